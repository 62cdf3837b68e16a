//! Colour styles written as words: `"bold red"`, `"dim"`, `"yellow on blue"`,
//! `"underline bright green"`, `"color(208)"`, `"#ff8800"`, `"none"`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    text: String,
    style: anstyle::Style,
}

fn color(word: &str, bright: bool) -> Option<anstyle::Color> {
    use anstyle::AnsiColor::*;
    let base = match word {
        "black" => Black,
        "red" => Red,
        "green" => Green,
        "yellow" => Yellow,
        "blue" => Blue,
        "magenta" => Magenta,
        "cyan" => Cyan,
        "white" => White,
        _ => {
            if let Some(n) = word
                .strip_prefix("color(")
                .and_then(|r| r.strip_suffix(')'))
            {
                return n
                    .parse::<u8>()
                    .ok()
                    .map(|n| anstyle::Color::Ansi256(anstyle::Ansi256Color(n)));
            }
            if let Some(hex) = word.strip_prefix('#') {
                if hex.len() == 6 {
                    let v = u32::from_str_radix(hex, 16).ok()?;
                    return Some(anstyle::Color::Rgb(anstyle::RgbColor(
                        (v >> 16) as u8,
                        (v >> 8) as u8,
                        v as u8,
                    )));
                }
            }
            return None;
        }
    };
    Some(anstyle::Color::Ansi(if bright {
        base.bright(true)
    } else {
        base
    }))
}

impl Style {
    /// Parses a style description; the error says which word is wrong.
    pub fn parse(text: &str) -> Result<Style, String> {
        let mut style = anstyle::Style::new();
        let words: Vec<String> = text
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let mut i = 0;
        let mut background = false;
        let mut bright = false;
        while i < words.len() {
            let w = words[i].as_str();
            match w {
                "none" | "default" | "plain" => {}
                "bold" => style = style.bold(),
                "dim" | "dimmed" => style = style.dimmed(),
                "italic" => style = style.italic(),
                "underline" => style = style.underline(),
                "bright" => bright = true,
                "on" => background = true,
                _ => match color(w, bright) {
                    Some(c) if background => {
                        style = style.bg_color(Some(c));
                        bright = false;
                    }
                    Some(c) => {
                        style = style.fg_color(Some(c));
                        bright = false;
                    }
                    None => {
                        return Err(format!(
                            "unknown colour or attribute `{w}` in \"{text}\" (expected bold, dim, italic, underline, bright, \
                             black, red, green, yellow, blue, magenta, cyan, white, color(N), #rrggbb, `on` for a background, or none)"
                        ))
                    }
                },
            }
            i += 1;
        }
        Ok(Style {
            text: text.to_string(),
            style,
        })
    }

    pub fn to_anstyle(&self) -> anstyle::Style {
        self.style
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for Style {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Style {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Style::parse(&s).map_err(serde::de::Error::custom)
    }
}
