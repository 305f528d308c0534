//! What the terminal shows, drawn once against `embedded-graphics`'
//! `DrawTarget` and laid out for the target's size: 128×64 monochrome OLEDs
//! get a compact text layout, 240×240 / 320×240 colour panels a status bar,
//! an icon, a big word and a detail line.

use embedded_graphics::mono_font::iso_8859_1::{FONT_6X10, FONT_9X18_BOLD, FONT_10X20};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Circle, Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle, RoundedRectangle,
};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};

/// A screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// Waiting for someone.
    Idle {
        /// Site name.
        site: String,
    },
    /// A face is being recognised.
    FaceSeen {
        /// Face box `[x0, y0, x1, y1]` in camera-frame pixels.
        bbox: [f32; 4],
        /// Camera frame size.
        frame: (u32, u32),
    },
    /// Access granted.
    Granted {
        /// Who.
        name: String,
    },
    /// Access refused.
    Denied {
        /// Why, in a few words.
        reason: String,
    },
    /// The camera delivers no frames.
    CameraLost {
        /// Seconds to the next attempt.
        retry_in_s: u32,
    },
    /// A gallery update is being checked or was applied/refused.
    Updating {
        /// Progress, if known.
        percent: Option<u8>,
        /// What is happening.
        message: String,
    },
    /// Door alarm.
    Alarm {
        /// What is wrong.
        message: String,
    },
    /// The door cannot be driven (its controller stopped, the relay fails).
    Fault {
        /// What it means for the person at the door.
        message: String,
    },
}

impl Screen {
    /// Short name, used for file names and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Screen::Idle { .. } => "idle",
            Screen::FaceSeen { .. } => "face",
            Screen::Granted { .. } => "granted",
            Screen::Denied { .. } => "denied",
            Screen::CameraLost { .. } => "camera-lost",
            Screen::Updating { .. } => "updating",
            Screen::Alarm { .. } => "alarm",
            Screen::Fault { .. } => "fault",
        }
    }
}

const WHITE: Rgb888 = Rgb888::WHITE;
const BLACK: Rgb888 = Rgb888::BLACK;
const SLATE: Rgb888 = Rgb888::new(36, 42, 54);
const GREEN: Rgb888 = Rgb888::new(18, 150, 72);
const RED: Rgb888 = Rgb888::new(200, 36, 36);
const AMBER: Rgb888 = Rgb888::new(232, 150, 12);
const BLUE: Rgb888 = Rgb888::new(36, 100, 200);
const GREY: Rgb888 = Rgb888::new(150, 156, 166);

/// `text` shortened with "..." to at most `max` characters.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(3);
    text.chars().take(keep).collect::<String>() + "..."
}

/// Draws `screen` over the whole target.
pub fn draw<D: DrawTarget<Color = Rgb888>>(
    screen: &Screen,
    target: &mut D,
) -> Result<(), D::Error> {
    let area = target.bounding_box();
    if area.size.width < 200 || area.size.height < 120 {
        draw_small(screen, target, area)
    } else {
        draw_large(screen, target, area)
    }
}

/// Words for each screen: title, big word, detail.
fn words(screen: &Screen) -> (String, &'static str, String) {
    match screen {
        Screen::Idle { site } => (site.clone(), "READY", "Look at the camera".into()),
        Screen::FaceSeen { .. } => ("Checking".into(), "HOLD STILL", "Look at the camera".into()),
        Screen::Granted { name } => ("Access granted".into(), "WELCOME", name.clone()),
        Screen::Denied { reason } => ("Access denied".into(), "DENIED", reason.clone()),
        Screen::CameraLost { retry_in_s } => (
            "Camera lost".into(),
            "NO CAMERA",
            format!("Retrying in {retry_in_s} s"),
        ),
        Screen::Updating { percent, message } => (
            "Gallery update".into(),
            "UPDATE",
            match percent {
                Some(p) => format!("{message} {p}%"),
                None => message.clone(),
            },
        ),
        Screen::Alarm { message } => ("Alarm".into(), "ALARM", message.clone()),
        Screen::Fault { message } => ("Door fault".into(), "OUT OF ORDER", message.clone()),
    }
}

fn accent(screen: &Screen) -> Rgb888 {
    match screen {
        Screen::Idle { .. } | Screen::FaceSeen { .. } => SLATE,
        Screen::Granted { .. } => GREEN,
        Screen::Denied { .. } | Screen::Fault { .. } => RED,
        Screen::CameraLost { .. } | Screen::Alarm { .. } => AMBER,
        Screen::Updating { .. } => BLUE,
    }
}

fn text<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    s: &str,
    at: Point,
    font: &'static MonoFont<'static>,
    color: Rgb888,
    width: u32,
) -> Result<(), D::Error> {
    let max = (width / font.character_size.width).max(1) as usize;
    let style = MonoTextStyle::new(font, color);
    let layout = TextStyleBuilder::new()
        .alignment(Alignment::Center)
        .baseline(Baseline::Top)
        .build();
    Text::with_text_style(&fit(s, max), at, style, layout).draw(target)?;
    Ok(())
}

/// 128×64 monochrome: inverted title bar, big word, detail line.
fn draw_small<D: DrawTarget<Color = Rgb888>>(
    screen: &Screen,
    target: &mut D,
    area: Rectangle,
) -> Result<(), D::Error> {
    target.clear(BLACK)?;
    let (w, h) = (area.size.width, area.size.height);
    let cx = area.top_left.x + w as i32 / 2;
    let top = area.top_left.y;
    let (title, big, detail) = words(screen);
    Rectangle::new(area.top_left, Size::new(w, 12))
        .into_styled(PrimitiveStyle::with_fill(WHITE))
        .draw(target)?;
    text(
        target,
        &title,
        Point::new(cx, top + 1),
        &FONT_6X10,
        BLACK,
        w - 2,
    )?;
    if let Screen::FaceSeen { bbox, frame } = screen {
        // The frame, scaled into the space under the title, with the face box.
        let room = Rectangle::new(Point::new(area.top_left.x, top + 14), Size::new(w, h - 14));
        face_box(target, room, *bbox, *frame, WHITE, 1)?;
        return Ok(());
    }
    text(target, big, Point::new(cx, top + 18), &FONT_10X20, WHITE, w)?;
    if let Screen::Updating {
        percent: Some(p), ..
    } = screen
    {
        progress(
            target,
            Rectangle::new(Point::new(8, top + 40), Size::new(w - 16, 8)),
            *p,
            WHITE,
        )?;
        return Ok(());
    }
    text(
        target,
        &detail,
        Point::new(cx, top + h as i32 - 14),
        &FONT_6X10,
        WHITE,
        w,
    )
}

/// 240×240 and larger colour: status bar, icon, big word, detail.
fn draw_large<D: DrawTarget<Color = Rgb888>>(
    screen: &Screen,
    target: &mut D,
    area: Rectangle,
) -> Result<(), D::Error> {
    let (w, h) = (area.size.width, area.size.height);
    let (x0, y0) = (area.top_left.x, area.top_left.y);
    let cx = x0 + w as i32 / 2;
    let colour = accent(screen);
    target.clear(BLACK)?;
    let (title, big, detail) = words(screen);
    Rectangle::new(area.top_left, Size::new(w, 30))
        .into_styled(PrimitiveStyle::with_fill(colour))
        .draw(target)?;
    text(
        target,
        &title,
        Point::new(cx, y0 + 6),
        &FONT_9X18_BOLD,
        WHITE,
        w - 8,
    )?;

    let icon_y = y0 + 30 + (h as i32 - 30) * 2 / 5;
    let r = ((h as i32 - 30) / 5).min(w as i32 / 5);
    match screen {
        Screen::FaceSeen { bbox, frame } => {
            let room = Rectangle::new(Point::new(x0 + 20, y0 + 40), Size::new(w - 40, h - 40 - 48));
            face_box(target, room, *bbox, *frame, Rgb888::new(80, 200, 255), 3)?;
        }
        Screen::Updating { percent, .. } => {
            ring(target, cx, icon_y, r, colour)?;
            if let Some(p) = percent {
                let half = r * 3 / 4;
                let bar = Rectangle::new(
                    Point::new(cx - half, icon_y - 6),
                    Size::new(2 * half as u32, 12),
                );
                progress(target, bar, *p, WHITE)?;
            } else {
                arrow_down(target, cx, icon_y, r, WHITE)?;
            }
        }
        _ => {
            Circle::with_center(Point::new(cx, icon_y), 2 * r as u32)
                .into_styled(PrimitiveStyle::with_fill(colour))
                .draw(target)?;
            icon(screen, target, cx, icon_y, r)?;
        }
    }
    let word_y = y0 + h as i32 - 58;
    if !matches!(screen, Screen::FaceSeen { .. }) {
        text(
            target,
            big,
            Point::new(cx, word_y),
            &FONT_10X20,
            WHITE,
            w - 8,
        )?;
    }
    let detail_colour = if matches!(screen, Screen::Granted { .. }) {
        WHITE
    } else {
        GREY
    };
    text(
        target,
        &detail,
        Point::new(cx, y0 + h as i32 - 30),
        &FONT_9X18_BOLD,
        detail_colour,
        w - 12,
    )
}

fn thick(color: Rgb888, width: u32) -> PrimitiveStyle<Rgb888> {
    PrimitiveStyleBuilder::new()
        .stroke_color(color)
        .stroke_width(width)
        .build()
}

fn ring<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    cx: i32,
    cy: i32,
    r: i32,
    color: Rgb888,
) -> Result<(), D::Error> {
    Circle::with_center(Point::new(cx, cy), 2 * r as u32)
        .into_styled(thick(color, 4))
        .draw(target)
}

fn arrow_down<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    cx: i32,
    cy: i32,
    r: i32,
    color: Rgb888,
) -> Result<(), D::Error> {
    let s = thick(color, 5);
    let k = r / 2;
    Line::new(Point::new(cx, cy - k), Point::new(cx, cy + k))
        .into_styled(s)
        .draw(target)?;
    Line::new(
        Point::new(cx - k * 2 / 3, cy + k / 3),
        Point::new(cx, cy + k),
    )
    .into_styled(s)
    .draw(target)?;
    Line::new(
        Point::new(cx + k * 2 / 3, cy + k / 3),
        Point::new(cx, cy + k),
    )
    .into_styled(s)
    .draw(target)
}

/// Tick, cross, exclamation mark or camera, in white on the coloured disc.
fn icon<D: DrawTarget<Color = Rgb888>>(
    screen: &Screen,
    target: &mut D,
    cx: i32,
    cy: i32,
    r: i32,
) -> Result<(), D::Error> {
    let s = thick(WHITE, (r / 6).max(3) as u32);
    let k = r / 2;
    let line = |a: (i32, i32), b: (i32, i32)| {
        Line::new(
            Point::new(cx + a.0, cy + a.1),
            Point::new(cx + b.0, cy + b.1),
        )
        .into_styled(s)
    };
    match screen {
        Screen::Granted { .. } => {
            line((-k, 0), (-k / 4, k * 3 / 4)).draw(target)?;
            line((-k / 4, k * 3 / 4), (k, -k * 2 / 3)).draw(target)
        }
        Screen::Denied { .. } => {
            line((-k, -k), (k, k)).draw(target)?;
            line((-k, k), (k, -k)).draw(target)
        }
        Screen::Alarm { .. } | Screen::CameraLost { .. } | Screen::Fault { .. } => {
            line((0, -k - k / 3), (0, k / 3)).draw(target)?;
            Circle::with_center(Point::new(cx, cy + k), (r / 4).max(4) as u32)
                .into_styled(PrimitiveStyle::with_fill(WHITE))
                .draw(target)
        }
        _ => {
            // Idle: a simple camera lens.
            Circle::with_center(Point::new(cx, cy), (r as u32) * 9 / 10)
                .into_styled(thick(WHITE, 4))
                .draw(target)?;
            Circle::with_center(Point::new(cx, cy), (r as u32) * 3 / 10)
                .into_styled(PrimitiveStyle::with_fill(WHITE))
                .draw(target)
        }
    }
}

/// The camera frame scaled into `room` (keeping its aspect) with the face box.
fn face_box<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    room: Rectangle,
    bbox: [f32; 4],
    frame: (u32, u32),
    color: Rgb888,
    stroke: u32,
) -> Result<(), D::Error> {
    let (fw, fh) = (frame.0.max(1) as f32, frame.1.max(1) as f32);
    let scale = (room.size.width as f32 / fw).min(room.size.height as f32 / fh);
    let (vw, vh) = ((fw * scale) as i32, (fh * scale) as i32);
    let ox = room.top_left.x + (room.size.width as i32 - vw) / 2;
    let oy = room.top_left.y + (room.size.height as i32 - vh) / 2;
    Rectangle::new(Point::new(ox, oy), Size::new(vw as u32, vh as u32))
        .into_styled(PrimitiveStyle::with_stroke(GREY, 1))
        .draw(target)?;
    let clamp = |v: f32, max: f32| v.clamp(0.0, max);
    let x0 = ox + (clamp(bbox[0], fw) * scale) as i32;
    let y0 = oy + (clamp(bbox[1], fh) * scale) as i32;
    let x1 = ox + (clamp(bbox[2], fw) * scale) as i32;
    let y1 = oy + (clamp(bbox[3], fh) * scale) as i32;
    if x1 > x0 && y1 > y0 {
        RoundedRectangle::with_equal_corners(
            Rectangle::with_corners(Point::new(x0, y0), Point::new(x1, y1)),
            Size::new(4, 4),
        )
        .into_styled(PrimitiveStyle::with_stroke(color, stroke))
        .draw(target)?;
    }
    Ok(())
}

fn progress<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    bar: Rectangle,
    percent: u8,
    color: Rgb888,
) -> Result<(), D::Error> {
    bar.into_styled(PrimitiveStyle::with_stroke(color, 1))
        .draw(target)?;
    let inner = bar.size.width.saturating_sub(4) * u32::from(percent.min(100)) / 100;
    Rectangle::new(
        bar.top_left + Point::new(2, 2),
        Size::new(inner, bar.size.height.saturating_sub(4)),
    )
    .into_styled(PrimitiveStyle::with_fill(color))
    .draw(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::mock_display::MockDisplay;
    use embedded_graphics::pixelcolor::BinaryColor;

    /// A bounds-checking target of any size: drawing outside fails the test.
    struct Checked {
        size: Size,
        outside: usize,
    }

    impl OriginDimensions for Checked {
        fn size(&self) -> Size {
            self.size
        }
    }

    impl DrawTarget for Checked {
        type Color = Rgb888;
        type Error = std::convert::Infallible;
        fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
            &mut self,
            pixels: I,
        ) -> Result<(), Self::Error> {
            let area = Rectangle::new(Point::zero(), self.size);
            self.outside += pixels.into_iter().filter(|p| !area.contains(p.0)).count();
            Ok(())
        }
    }

    pub(crate) fn all_screens() -> Vec<Screen> {
        vec![
            Screen::Idle {
                site: "Main entrance".into(),
            },
            Screen::FaceSeen {
                bbox: [250.0, 120.0, 390.0, 300.0],
                frame: (640, 480),
            },
            Screen::Granted {
                name: "José Müller".into(),
            },
            Screen::Granted {
                name: "Maximilian Alexander von Hohenberg-Ebersdorf".into(),
            },
            Screen::Denied {
                reason: "Not recognised".into(),
            },
            Screen::CameraLost { retry_in_s: 4 },
            Screen::Updating {
                percent: Some(60),
                message: "Installing".into(),
            },
            Screen::Updating {
                percent: None,
                message: "Refused: bad signature".into(),
            },
            Screen::Alarm {
                message: "Door held open".into(),
            },
            Screen::Fault {
                message: "Door not unlocked".into(),
            },
        ]
    }

    #[test]
    fn nothing_is_drawn_outside_any_panel() {
        for size in [
            Size::new(128, 64),
            Size::new(240, 240),
            Size::new(320, 240),
            Size::new(96, 64),
        ] {
            for s in all_screens() {
                let mut t = Checked { size, outside: 0 };
                draw(&s, &mut t).unwrap();
                assert_eq!(t.outside, 0, "{s:?} at {size:?}");
            }
        }
    }

    /// MockDisplay (64×64) panics on drawing out of bounds.
    #[test]
    fn small_layout_fits_a_mock_display() {
        for s in all_screens() {
            let mut d: MockDisplay<BinaryColor> = MockDisplay::new();
            d.set_allow_overdraw(true);
            draw(&s, &mut d.color_converted()).unwrap();
        }
    }

    #[test]
    fn long_text_is_shortened() {
        assert_eq!(fit("José Müller", 20), "José Müller");
        assert_eq!(fit("Maximilian Alexander", 10), "Maximil...");
        assert_eq!(fit("Maximilian Alexander", 10).chars().count(), 10);
    }
}
