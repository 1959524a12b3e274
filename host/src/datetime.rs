//! Dates and times as the core stores them: ISO-8601 text (`YYYY-MM-DD`,
//! `HH:MM:SS[.ffffff]`, `YYYY-MM-DD HH:MM:SS[.ffffff]`), and the day and microsecond counts
//! the server drivers send and receive.

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` → days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y = num(it.next()?)?;
    let m = num(it.next()?)?;
    let d = num(it.next()?)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32))
}

/// `HH:MM:SS[.ffffff]` → microseconds since midnight.
pub fn parse_time(s: &str) -> Option<i64> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let mut it = hms.splitn(3, ':');
    let h = num(it.next()?)?;
    let m = num(it.next()?)?;
    let sec = it.next().map(num).unwrap_or(Some(0))?;
    if h > 24 || m > 59 || sec > 60 || frac.len() > 6 {
        return None;
    }
    let micros = if frac.is_empty() {
        0
    } else {
        num(frac)? * 10i64.pow(6 - frac.len() as u32)
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + micros)
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]` (or a bare date) → microseconds since 1970-01-01.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let (d, t) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, parse_time(t)?),
        None => (s, 0),
    };
    Some(parse_date(d)? * 86_400_000_000 + t)
}

pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS`, with `.ffffff` when there are microseconds (as Python's `isoformat`).
pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

pub fn format_datetime(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    format!("{} {}", format_date(days), format_time(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20413), (2025, 11, 21));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for d in [-800_000, -1, 0, 1, 10_957, 20_413, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn text_round_trip() {
        for s in [
            "2024-02-29 23:59:59.123456",
            "1999-12-31 00:00:00",
            "0001-01-01 12:00:00.000001",
        ] {
            assert_eq!(format_datetime(parse_datetime(s).unwrap()), s);
        }
        assert_eq!(parse_time("10:11:12.5"), Some(36_672_500_000));
        assert_eq!(
            format_time(parse_time("10:11:12.5").unwrap()),
            "10:11:12.500000"
        );
        assert_eq!(
            parse_datetime("2024-01-02T03:04:05"),
            parse_datetime("2024-01-02 03:04:05")
        );
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_time("x"), None);
    }
}
