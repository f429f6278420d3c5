//! Parsing of the human inputs the JWT commands take: expiries and limits.

use anyhow::{bail, Result};
use tracebus::auth::times::{civil_from_days, days_from_civil};

/// Parses an expiry into an absolute `exp` (unix seconds) relative to
/// `now`: a duration `90s`, `30m`, `24h`, `7d`, `2w`, `1y` (365 days), a
/// date `2030-12-31` (midnight UTC) or date-time `2030-12-31T12:00:00Z`,
/// or `0`/`never` for no expiry (returns 0).
pub fn parse_expiry(s: &str, now: i64) -> Result<i64> {
    let t = s.trim();
    let bad = || {
        anyhow::anyhow!(
            "bad expiry {s:?}: use a duration like 90s, 30m, 24h, 7d, 2w, 1y, a date YYYY-MM-DD[THH:MM:SSZ], or 0 for never"
        )
    };
    if t == "0" || t.eq_ignore_ascii_case("never") {
        return Ok(0);
    }
    if let Some(ts) = parse_date(t) {
        if ts <= now {
            bail!("bad expiry {s:?}: that date is in the past");
        }
        return Ok(ts);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        "y" => 365 * 86400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(mult)
        .and_then(|d| d.checked_add(now))
        .ok_or_else(bad)
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) → unix seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut it = date.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86400;
    if let Some(t) = time {
        let mut it = t.split(':');
        let hh: i64 = it.next()?.parse().ok()?;
        let mm: i64 = it.next()?.parse().ok()?;
        let ss: i64 = it.next()?.parse().ok()?;
        if it.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        secs += hh * 3600 + mm * 60 + ss;
    }
    Some(secs)
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (for describe).
pub fn format_time(ts: i64) -> String {
    let days = ts.div_euclid(86400);
    let rem = ts.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A limit: an integer, `-1`/`unlimited`, or a size with a 1024-based
/// suffix `K`, `M`, `G` (also `KB`, `MB`, `GB`, `KiB`…).
pub fn parse_limit(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t == "-1" {
        return Ok(-1);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit())).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad limit {s:?}: use a number, -1 (unlimited) or a size like 1M"))?;
    let mult: i64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("bad limit {s:?}: unknown unit {unit:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("bad limit {s:?}: too large"))
}

/// A duration for `--resp-ttl`: `500ms`, `5s`, `1m`, `1h` → nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: use e.g. 500ms, 5s, 1m"))?;
    let mult: i64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" | "" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("bad duration {s:?}: unknown unit {unit:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("bad duration {s:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        let now = 1_000_000;
        assert_eq!(parse_expiry("24h", now).unwrap(), now + 86400);
        assert_eq!(parse_expiry("90s", now).unwrap(), now + 90);
        assert_eq!(parse_expiry("1y", now).unwrap(), now + 365 * 86400);
        assert_eq!(parse_expiry("0", now).unwrap(), 0);
        assert_eq!(parse_expiry("2100-01-01", now).unwrap(), 4102444800);
        assert_eq!(
            parse_expiry("2100-01-01T00:00:10Z", now).unwrap(),
            4102444810
        );
        for bad in ["", "h", "24x", "-5h", "0h", "2100-13-01", "yesterday"] {
            let e = parse_expiry(bad, now).unwrap_err().to_string();
            assert!(e.contains("bad expiry"), "{bad}: {e}");
        }
        assert!(parse_expiry("1970-01-02", now).is_err());
    }

    #[test]
    fn times_and_limits() {
        assert_eq!(format_time(4102444800), "2100-01-01 00:00:00 UTC");
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951825600), "2000-02-29 12:00:00 UTC");
        assert_eq!(parse_limit("1M"), Ok(1 << 20));
        assert_eq!(parse_limit("unlimited"), Ok(-1));
        assert_eq!(parse_limit("-1"), Ok(-1));
        assert_eq!(parse_limit("42"), Ok(42));
        assert!(parse_limit("4X").is_err());
        assert!(parse_limit("-2").is_err());
        assert_eq!(parse_duration_ns("1m"), Ok(60_000_000_000));
        assert_eq!(parse_duration_ns("500ms"), Ok(500_000_000));
    }
}
