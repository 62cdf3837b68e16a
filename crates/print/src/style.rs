//! Colours per element of a line.

use anstyle::{AnsiColor, Color, Style};

/// One style per kind of element. `Style::new()` means "no escape codes".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub function: Style,
    pub fd: Style,
    pub address: Style,
    pub constant: Style,
    pub string: Style,
    pub number: Style,
    pub error: Style,
    pub timestamp: Style,
    pub pid: Style,
    pub duration: Style,
    pub notice: Style,
    /// The caller location (`basic.c:53 (main+0x1c5)`).
    pub caller: Style,
}

fn fg(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(Color::Ansi(c)))
}

impl Default for Palette {
    fn default() -> Self {
        Palette {
            function: Style::new().bold(),
            fd: fg(AnsiColor::Cyan),
            address: fg(AnsiColor::Green),
            constant: fg(AnsiColor::Yellow),
            string: fg(AnsiColor::Magenta),
            number: Style::new(),
            error: fg(AnsiColor::Red).bold(),
            timestamp: Style::new().dimmed(),
            pid: fg(AnsiColor::Blue),
            duration: Style::new().dimmed(),
            notice: Style::new().italic(),
            caller: fg(AnsiColor::Blue).italic(),
        }
    }
}

impl Palette {
    /// No styles at all.
    pub fn plain() -> Self {
        let s = Style::new();
        Palette {
            function: s,
            fd: s,
            address: s,
            constant: s,
            string: s,
            number: s,
            error: s,
            timestamp: s,
            pid: s,
            duration: s,
            notice: s,
            caller: s,
        }
    }
}
