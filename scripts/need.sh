#!/usr/bin/env bash
# Probes and installs shared by the set-up scripts (sourced, not run).
#
# Every probe checks the thing that is used, not a file that looks like it:
# a package through dpkg-query, a library by loading it, a tool by running it.
#
#   need_pkgs PKG...       install the Debian packages that are not installed
#   have_pkg PKG           a package is installed (dpkg's "install ok installed")
#   have_libclang          bindgen's libclang loads (libclang-cpp is not it)
#   sudo_ CMD...           CMD as root (sudo when not root)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

have_pkg() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# clang-sys (bindgen) looks for libclang.so, libclang-N.so or their versioned
# names in the LLVM and multiarch library folders; libclang-cpp.so is a
# different library that only shares the prefix. A candidate counts when it
# loads (python's ctypes when python3 exists, else the file is taken), and
# clang's own headers (stddef.h, from libclang-common-N-dev) are there too:
# bindgen parses the V4L2 headers with them.
have_libclang() {
    local f
    compgen -G "/usr/lib/llvm-*/lib/clang/*/include/stddef.h" >/dev/null || return 1
    for f in ${LIBCLANG_PATH:+$LIBCLANG_PATH/libclang*.so*} /usr/lib/llvm-*/lib/libclang*.so* \
        /usr/lib/*-linux-gnu/libclang*.so* /usr/lib64/libclang*.so* /usr/lib/libclang*.so*; do
        [ -e "$f" ] || continue
        case "${f##*/}" in
        libclang.so | libclang.so.* | libclang-[0-9]*.so | libclang-[0-9]*.so.*) ;;
        *) continue ;;
        esac
        if command -v python3 >/dev/null; then
            python3 -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$f" 2>/dev/null && return 0
        else
            return 0
        fi
    done
    return 1
}

# Installs the packages among PKG... that dpkg does not list as installed.
need_pkgs() {
    local missing=() p
    for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}" >&2
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
