//! Minimal date handling for file headers, so no date crate is needed.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil` algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UNIX time of midnight UTC on a date; `None` for an impossible date.
pub(crate) fn unix_from_ymd(y: i64, m: u32, d: u32) -> Option<u64> {
    // Header dates come from untrusted files: keep the arithmetic in range.
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    u64::try_from(days_from_civil(y, m, d) * 86_400).ok()
}

/// Parses `Thu, 25 Jun 2026 04:33:59 GMT` (the weekday is optional).
pub(crate) fn parse_rfc2822(s: &str) -> Option<u64> {
    let s = s.split_once(',').map_or(s, |(_, rest)| rest).trim();
    let mut it = s.split_whitespace();
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()?.get(..3)? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut secs = 0u64;
    if let Some(time) = it.next() {
        let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
        let (h, m, s) = (
            hms.next()??,
            hms.next()??,
            hms.next().flatten().unwrap_or(0),
        );
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs = h * 3600 + m * 60 + s;
    }
    Some(unix_from_ymd(year, month, day)? + secs)
}

/// `YYYY-MM-DD` for a UNIX time.
pub fn format_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    // Inverse of days_from_civil (civil_from_days).
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(
            parse_rfc2822("Thu, 25 Jun 2026 04:33:59 GMT"),
            Some(1_782_362_039)
        );
        assert_eq!(format_date(1_782_362_039), "2026-06-25");
        assert_eq!(unix_from_ymd(1970, 1, 1), Some(0));
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(unix_from_ymd(2024, 13, 1), None);
        // Found by fuzzing: a huge year must not overflow.
        assert_eq!(parse_rfc2822("1 Mar 555555555555555551 00:00"), None);
        assert_eq!(parse_rfc2822("1 Mar 2020 99:00"), None);
    }
}
