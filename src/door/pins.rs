//! A door wired to three GPIO lines, generic over `embedded-hal` 1.0 pins:
//! [`crate::gpio::Line`] on Linux, [`super::sim::SimPin`] in tests and the demo.

use embedded_hal::digital::{InputPin, OutputPin};

use super::{Door, DoorError, Wiring};

/// Relay output, optional door contact and optional exit button.
pub struct PinDoor<R: OutputPin, C: InputPin, X: InputPin> {
    relay: R,
    contact: Option<C>,
    exit_button: Option<X>,
    wiring: Wiring,
}

impl<R: OutputPin, C: InputPin, X: InputPin> PinDoor<R, C, X> {
    /// A door on these pins; the relay is driven to locked at once.
    pub fn new(
        relay: R,
        contact: Option<C>,
        exit_button: Option<X>,
        wiring: Wiring,
    ) -> Result<Self, DoorError> {
        let mut door = Self {
            relay,
            contact,
            exit_button,
            wiring,
        };
        let locked = door.wiring.relay_level(false);
        drive(&mut door.relay, locked)?;
        Ok(door)
    }
}

fn drive(relay: &mut impl OutputPin, high: bool) -> Result<(), DoorError> {
    if high {
        relay.set_high()
    } else {
        relay.set_low()
    }
    .map_err(|e| fault("relay", e))
}

fn fault(what: &str, e: impl std::fmt::Debug) -> DoorError {
    DoorError::Line(format!("{what}: {e:?}"))
}

impl<R, C, X> Door for PinDoor<R, C, X>
where
    R: OutputPin + Send,
    C: InputPin + Send,
    X: InputPin + Send,
{
    fn set_unlocked(&mut self, unlocked: bool) -> Result<(), DoorError> {
        drive(&mut self.relay, self.wiring.relay_level(unlocked))
    }

    fn door_open(&mut self) -> Result<bool, DoorError> {
        match &mut self.contact {
            Some(pin) => {
                let high = pin.is_high().map_err(|e| fault("door contact", e))?;
                Ok(high == self.wiring.contact_open_high)
            }
            None => Ok(false),
        }
    }

    fn exit_pressed(&mut self) -> Result<bool, DoorError> {
        match &mut self.exit_button {
            Some(pin) => {
                let high = pin.is_high().map_err(|e| fault("exit button", e))?;
                Ok(high != self.wiring.exit_button_active_low)
            }
            None => Ok(false),
        }
    }
}

impl<R: OutputPin, C: InputPin, X: InputPin> Drop for PinDoor<R, C, X> {
    /// Leaves the door locked however the program ends (also on panic).
    fn drop(&mut self) {
        let _ = drive(&mut self.relay, self.wiring.relay_level(false));
    }
}
