#!/usr/bin/env bash
# Builds gpio-sim.ko (and irq_sim.ko when the kernel lacks CONFIG_IRQ_SIM)
# out of tree for Debian's arm64 6.1 kernel, which does not ship gpio-sim:
# the sources from linux-source-6.1, cross-compiled against the unpacked
# headers. Sourced by scripts/test-hil.sh after fetch.sh; sets GPIO_SIM_DIR.
set -euo pipefail
: "${HIL_CACHE:?}" "${KVER:?}" "${HDIR:?}" "${SRC:?}" "${KDIR:?}"
GPIO_SIM_DIR=$HIL_CACHE/gpio-sim-$KVER
if [ ! -e "$GPIO_SIM_DIR/gpio-sim.ko" ]; then
    rm -rf "$GPIO_SIM_DIR" && mkdir -p "$GPIO_SIM_DIR"
    cp "$SRC/drivers/gpio/gpio-sim.c" "$SRC/drivers/gpio/gpiolib.h" "$GPIO_SIM_DIR/"
    objs="gpio-sim.o"
    if ! grep -q '^CONFIG_IRQ_SIM=y' "$KDIR/boot/config-$KVER"; then
        # irq_sim (gpio-sim's interrupt simulator) is not built in either.
        # handle_simple_irq() on a descriptor is not exported to modules; the
        # safe wrapper does the same from any context.
        sed 's/handle_simple_irq(irq_to_desc(\([a-z_]*\)))/generic_handle_irq_safe(\1)/' \
            "$SRC/kernel/irq/irq_sim.c" >"$GPIO_SIM_DIR/irq_sim.c"
        echo 'MODULE_LICENSE("GPL");' >>"$GPIO_SIM_DIR/irq_sim.c"
        grep -q generic_handle_irq_safe "$GPIO_SIM_DIR/irq_sim.c" || {
            echo "hil: irq_sim.c no longer calls handle_simple_irq(irq_to_desc(..)); update the patch" >&2
            exit 1
        }
        objs="$objs irq_sim.o"
    fi
    echo "obj-m := ${objs}" >"$GPIO_SIM_DIR/Kbuild"
    # The arm64 Makefile includes the common one by its installed path.
    sed -i "s|^include /usr/src/|include $HDIR/usr/src/|" "$HDIR/usr/src/linux-headers-$KVER/Makefile"
    make -s -C "$HDIR/usr/src/linux-headers-$KVER" M="$GPIO_SIM_DIR" \
        ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules >&2
fi
export GPIO_SIM_DIR
