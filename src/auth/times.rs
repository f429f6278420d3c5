//! The `times` of a user JWT: daily windows (`"08:00:00"`–`"17:30:00"`) a
//! user may connect in, in the zone `times_location` (an IANA name such as
//! `Europe/Berlin`; empty = the server's local time).
//!
//! The decision follows nats-server 2.9: a window with `start <= end` admits
//! a client strictly between the two; a window with `start > end` runs over
//! midnight and admits a client after `start` (until `end` the next day).
//! The connection is closed when its window ends.
//!
//! Zones come from the system's TZif files (`/usr/share/zoneinfo`, or
//! `$ZONEINFO`): the transition table, and the POSIX rule in the file's
//! footer for times after the last transition. A zone that cannot be loaded
//! refuses the user, as in nats-server.

use std::time::Duration;

use crate::jwt::TimeRange;

const DAY: i64 = 86_400;

/// How long the window the user is in now lasts; `None` when the user is
/// outside every window (or the zone or a time cannot be read).
pub fn window_remaining(times: &[TimeRange], location: &str) -> Option<Duration> {
    let now = crate::jwt::now_unix();
    let offset = utc_offset(location, now)?;
    window_remaining_at(times, (now + offset).rem_euclid(DAY))
}

/// [`window_remaining`] for a given time of day (seconds after local midnight).
pub fn window_remaining_at(times: &[TimeRange], now: i64) -> Option<Duration> {
    for r in times {
        let (start, end) = (parse_hms(&r.start)?, parse_hms(&r.end)?);
        let end = if start > end { end + DAY } else { end };
        if start < now && end > now {
            return Some(Duration::from_secs((end - now) as u64));
        }
    }
    None
}

/// `H:MM:SS` or `HH:MM:SS` → seconds after midnight.
fn parse_hms(s: &str) -> Option<i64> {
    let mut it = s.trim().split(':');
    let (h, m, sec) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || m.len() != 2 || sec.len() != 2 || h.is_empty() || h.len() > 2 {
        return None;
    }
    let (h, m, sec): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?);
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// The offset from UTC, in seconds, of `location` at unix time `t`.
pub fn utc_offset(location: &str, t: i64) -> Option<i64> {
    let loc = location.trim();
    if loc.is_empty() || loc.eq_ignore_ascii_case("local") {
        return local_offset(t);
    }
    if loc == "UTC" || loc == "Etc/UTC" || loc == "GMT" {
        return Some(0);
    }
    if loc.starts_with('/') || loc.split('/').any(|p| p == ".." || p.is_empty()) {
        return None;
    }
    let dir = std::env::var("ZONEINFO").unwrap_or_else(|_| "/usr/share/zoneinfo".into());
    let data = std::fs::read(std::path::Path::new(&dir).join(loc)).ok()?;
    tzif_offset(&data, t)
}

fn local_offset(t: i64) -> Option<i64> {
    let tt: libc::time_t = t as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` it is given.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return None;
        }
        Some(tm.tm_gmtoff as i64)
    }
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as i64)
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The UTC offset at `t` from a TZif file (RFC 8536).
fn tzif_offset(b: &[u8], t: i64) -> Option<i64> {
    if b.get(..4)? != b"TZif" {
        return None;
    }
    let version = *b.get(4)?;
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = u32::from_be_bytes(b.get(at + 20 + 4 * i..at + 24 + 4 * i)?.try_into().ok()?)
                as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(0)?;
    let (base, tsize, [isut, isstd, leap, timecnt, typecnt, charcnt]) = if version >= b'2' {
        let v1_len = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
        let at = 44 + v1_len;
        (at + 44, 8, counts(at)?)
    } else {
        (44, 4, [isut, isstd, leap, timecnt, typecnt, charcnt])
    };
    let time_at = |i: usize| {
        if tsize == 8 {
            be64(b, base + i * 8)
        } else {
            be32(b, base + i * 4)
        }
    };
    let types = base + timecnt * tsize;
    let infos = types + timecnt;
    let utoff = |idx: usize| be32(b, infos + idx * 6);
    if typecnt == 0 {
        return None;
    }
    // The last transition at or before t.
    let mut idx: Option<usize> = None;
    for i in 0..timecnt {
        if time_at(i)? <= t {
            idx = Some(i);
        } else {
            break;
        }
    }
    let after_last = timecnt == 0 || idx == Some(timecnt - 1);
    if after_last && version >= b'2' {
        let footer_at = infos + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
        if let Some(tz) = b.get(footer_at..).and_then(|f| {
            let f = std::str::from_utf8(f).ok()?;
            f.strip_prefix('\n')?.split('\n').next().map(str::to_owned)
        }) {
            if let Some(off) = posix_tz_offset(&tz, t) {
                return Some(off);
            }
        }
    }
    match idx {
        Some(i) => utoff(*b.get(types + i)? as usize),
        None => utoff(0),
    }
}

/// The offset at `t` under a POSIX TZ rule such as `CET-1CEST,M3.5.0,M10.5.0/3`
/// (only `Mm.w.d` rules; `None` for forms it does not know).
fn posix_tz_offset(tz: &str, t: i64) -> Option<i64> {
    let mut p = Posix {
        s: tz.as_bytes(),
        i: 0,
    };
    p.name()?;
    let std = -p.offset()?;
    if p.done() {
        return Some(std);
    }
    p.name()?;
    let dst = if p.peek() == Some(b',') || p.done() {
        std + 3600
    } else {
        -p.offset()?
    };
    if p.done() {
        return Some(std);
    }
    p.expect(b',')?;
    let start = p.rule()?;
    p.expect(b',')?;
    let end = p.rule()?;
    let year = civil_from_days((t + std).div_euclid(DAY)).0;
    let start_utc = start.at(year) - std;
    let end_utc = end.at(year) - dst;
    let in_dst = if start_utc < end_utc {
        start_utc <= t && t < end_utc
    } else {
        !(end_utc <= t && t < start_utc)
    };
    Some(if in_dst { dst } else { std })
}

struct Posix<'a> {
    s: &'a [u8],
    i: usize,
}

struct Rule {
    month: i64,
    week: i64,
    weekday: i64,
    secs: i64,
}

impl Rule {
    /// Local time (as unix seconds in the zone's wall clock) of the rule in `year`.
    fn at(&self, year: i64) -> i64 {
        let first = days_from_civil(year, self.month, 1);
        let wd_first = (first + 4).rem_euclid(7);
        let mut day = first + (self.weekday - wd_first).rem_euclid(7) + (self.week - 1) * 7;
        let next_month = if self.month == 12 {
            days_from_civil(year + 1, 1, 1)
        } else {
            days_from_civil(year, self.month + 1, 1)
        };
        while day >= next_month {
            day -= 7;
        }
        day * DAY + self.secs
    }
}

impl Posix<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    fn name(&mut self) -> Option<()> {
        if self.peek()? == b'<' {
            while self.peek()? != b'>' {
                self.i += 1;
            }
            self.i += 1;
            return Some(());
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then_some(())
    }
    fn num(&mut self) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    /// `[+-]hh[:mm[:ss]]` in seconds (POSIX sign: west of UTC is positive).
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.peek()? {
            b'-' => {
                self.i += 1;
                -1
            }
            b'+' => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.num()? * 3600;
        if self.peek() == Some(b':') {
            self.i += 1;
            secs += self.num()? * 60;
            if self.peek() == Some(b':') {
                self.i += 1;
                secs += self.num()?;
            }
        }
        Some(sign * secs)
    }
    fn rule(&mut self) -> Option<Rule> {
        self.expect(b'M')?;
        let month = self.num()?;
        self.expect(b'.')?;
        let week = self.num()?;
        self.expect(b'.')?;
        let weekday = self.num()?;
        let secs = if self.peek() == Some(b'/') {
            self.i += 1;
            self.offset()?
        } else {
            7200
        };
        ((1..=12).contains(&month) && (1..=5).contains(&week) && weekday < 7).then_some(Rule {
            month,
            week,
            weekday,
            secs,
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (also used by
/// `tracebus-tools` for expiry dates).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str, e: &str) -> TimeRange {
        TimeRange {
            start: s.into(),
            end: e.into(),
        }
    }

    #[test]
    fn windows() {
        let day = [range("08:00:00", "17:30:00")];
        assert_eq!(
            window_remaining_at(&day, 9 * 3600),
            Some(Duration::from_secs(8 * 3600 + 1800))
        );
        assert_eq!(window_remaining_at(&day, 7 * 3600), None);
        assert_eq!(window_remaining_at(&day, 18 * 3600), None);
        assert_eq!(
            window_remaining_at(&day, 8 * 3600),
            None,
            "strictly after start"
        );
        let night = [range("22:00:00", "06:00:00")];
        assert_eq!(
            window_remaining_at(&night, 23 * 3600),
            Some(Duration::from_secs(7 * 3600))
        );
        // Like nats-server: the early-morning part of an overnight window
        // does not admit.
        assert_eq!(window_remaining_at(&night, 3600), None);
        assert_eq!(
            window_remaining_at(&[range("8:00", "9:00:00")], 8 * 3600 + 1),
            None
        );
        assert_eq!(parse_hms("8:00:00"), Some(8 * 3600));
        assert_eq!(parse_hms("24:00:00"), None);
    }

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 22), 20_779);
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // Last Sunday of March 2026 is the 29th.
        let r = Rule {
            month: 3,
            week: 5,
            weekday: 0,
            secs: 7200,
        };
        assert_eq!(r.at(2026), days_from_civil(2026, 3, 29) * DAY + 7200);
    }

    #[test]
    fn posix_rules() {
        let tz = "CET-1CEST,M3.5.0,M10.5.0/3";
        let jan = days_from_civil(2030, 1, 15) * DAY;
        let jul = days_from_civil(2030, 7, 15) * DAY;
        assert_eq!(posix_tz_offset(tz, jan), Some(3600));
        assert_eq!(posix_tz_offset(tz, jul), Some(7200));
        assert_eq!(posix_tz_offset("UTC0", jul), Some(0));
        assert_eq!(posix_tz_offset("<+0530>-5:30", jul), Some(19_800));
        // Southern hemisphere: DST over the new year.
        let nz = "NZST-12NZDT,M9.5.0,M4.1.0/3";
        assert_eq!(posix_tz_offset(nz, jan), Some(13 * 3600));
        assert_eq!(posix_tz_offset(nz, jul), Some(12 * 3600));
    }

    #[test]
    fn zoneinfo_when_present() {
        if !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            return;
        }
        let jan = days_from_civil(2026, 1, 15) * DAY;
        let jul = days_from_civil(2026, 7, 15) * DAY;
        assert_eq!(utc_offset("Europe/Berlin", jan), Some(3600));
        assert_eq!(utc_offset("Europe/Berlin", jul), Some(7200));
        let far = days_from_civil(2090, 7, 15) * DAY;
        assert_eq!(utc_offset("Europe/Berlin", far), Some(7200));
        assert_eq!(utc_offset("UTC", jul), Some(0));
        assert_eq!(utc_offset("No/Such_Zone", jul), None);
        assert_eq!(utc_offset("../etc/passwd", jul), None);
    }
}
