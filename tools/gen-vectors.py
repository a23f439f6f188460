#!/usr/bin/env python3
"""Generate trigger conformance vectors with APScheduler 3 itself.

Usage (needs APScheduler 3.11 and tzdata in the interpreter's environment):

    python3 -m venv /tmp/aps && /tmp/aps/bin/pip install 'APScheduler==3.11.3' 'tzdata==2026.6'
    PYTHONTZPATH= /tmp/aps/bin/python tools/gen-vectors.py --seed 1 --count 2000 > vectors.json

The output has the format of shared/conformance/trigger-vectors.json. Vectors follow that
file's rules: `crontab` means what cron(8) means (fields are expanded and evaluated with
CronTrigger, an OrTrigger for Vixie's either-or day rule), and forms where rsched is
deliberately stricter than APScheduler 3 (steps after name ranges, trailing text, zero
intervals) are not generated, except as errors where rsched rejects them.
"""
import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

ZONES = [
    "UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
    "Pacific/Kiritimati", "Pacific/Apia", "Asia/Shanghai", "Europe/Berlin", "Europe/Dublin",
    "America/Sao_Paulo", "America/St_Johns", "Pacific/Chatham", "Asia/Kathmandu",
    "America/Santiago", "Pacific/Auckland", "Australia/Adelaide", "Asia/Tehran",
    "America/Los_Angeles", "Africa/Cairo", "Asia/Gaza", "America/Godthab", "Europe/Moscow",
]
DST_ZONES = [z for z in ZONES if z not in ("UTC", "Asia/Kolkata", "Pacific/Kiritimati",
                                            "Asia/Shanghai", "Asia/Kathmandu", "Europe/Moscow")]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CRON_DOW = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
RANGES = {"year": (2024, 2040), "month": (1, 12), "day": (1, 31), "week": (1, 53),
          "day_of_week": (0, 6), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}


def tzobj(name):
    return timezone.utc if name == "UTC" else ZoneInfo(name)


def fmt(dt, tz):
    return datetime.fromtimestamp(dt.timestamp(), tz).isoformat()


def iterate(trigger, after, tz, n=10):
    out = []
    fire = trigger.get_next_fire_time(None, after)
    while fire is not None and len(out) < n:
        out.append(fmt(fire, tz))
        fire = trigger.get_next_fire_time(fire, fire)
    return out


_TRANSITIONS = {}


def transitions(name, start_year=2019, end_year=2032):
    key = (name, start_year, end_year)
    if key not in _TRANSITIONS:
        _TRANSITIONS[key] = _transitions(name, start_year, end_year)
    return _TRANSITIONS[key]


def _transitions(name, start_year, end_year):
    tz = tzobj(name)
    out = []
    t = datetime(start_year, 1, 1, tzinfo=timezone.utc)
    end = datetime(end_year, 1, 1, tzinfo=timezone.utc)
    prev = t.astimezone(tz).utcoffset()
    while t < end:
        t2 = t + timedelta(hours=1)
        off = t2.astimezone(tz).utcoffset()
        if off != prev:
            out.append(t2)
        prev = off
        t = t2
    return out


_LAST_AFTER_TEXT = [""]


def rand_after(r, zone, near_transition=False):
    """A random "now", as the conformance file gives it: an RFC 3339 string, parsed back to a
    datetime with a fixed offset (so Python compares it with zone datetimes by instant). The
    string of the latest call is what `add` records."""
    dt = _rand_after(r, zone, near_transition)
    text = after_str(dt, r)
    _LAST_AFTER_TEXT[0] = text
    return datetime.fromisoformat(text)


def _rand_after(r, zone, near_transition=False):
    tz = tzobj(zone)
    if near_transition:
        trans = transitions(zone)
        if trans:
            base = r.choice(trans) - timedelta(minutes=r.choice([0, 5, 25, 35, 60, 90, 120, 180, 1440, 2880]))
            base += timedelta(seconds=r.choice([0, 0, 0, 1, 59]))
            return base.astimezone(tz)
    base = datetime(2019, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=r.randrange(0, 13 * 365 * 86400))
    if r.random() < 0.5:
        base = base.replace(second=0)
    if r.random() < 0.2:
        base = base.replace(microsecond=r.randrange(1, 1000000))
    return base.astimezone(tz)


def after_str(after, r):
    if r.random() < 0.15:
        return after.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return datetime.fromtimestamp(after.timestamp(), after.tzinfo).isoformat()


def rand_field_expr(r, field):
    lo, hi = RANGES[field]
    kind = r.random()
    if kind < 0.25:
        return r.randint(lo, hi)
    if kind < 0.35:
        return str(r.randint(lo, hi))
    if kind < 0.5:
        step = r.randint(2, max(2, (hi - lo) // 2))
        return f"*/{step}"
    if kind < 0.65:
        a = r.randint(lo, hi)
        b = r.randint(a, hi)
        return f"{a}-{b}"
    if kind < 0.72:
        a = r.randint(lo, hi - 1)
        b = r.randint(a + 1, hi)
        step = r.randint(1, b - a)
        return f"{a}-{b}/{step}"
    if kind < 0.78:
        a = r.randint(lo, hi - 1)
        step = r.randint(1, hi - a)
        return f"{a}/{step}"
    if kind < 0.9:
        vals = sorted(set(r.randint(lo, hi) for _ in range(r.randint(2, 4))))
        return ",".join(str(v) for v in vals)
    if field == "month":
        a = r.randrange(12)
        b = r.randrange(a, 12)
        return MONTHS[a] if a == b or r.random() < 0.4 else f"{MONTHS[a]}-{MONTHS[b]}"
    if field == "day_of_week":
        a = r.randrange(7)
        b = r.randrange(a, 7)
        return WEEKDAYS[a] if a == b or r.random() < 0.4 else f"{WEEKDAYS[a]}-{WEEKDAYS[b]}"
    if field == "day":
        opts = ["last", f"last {r.choice(WEEKDAYS)}", f"{r.choice(['1st','2nd','3rd','4th','5th'])} {r.choice(WEEKDAYS)}"]
        return r.choice(opts)
    return "*"


def rand_cron(r, zone, dst=False):
    fields = {}
    names = ["year", "month", "day", "week", "day_of_week", "hour", "minute", "second"]
    weights = [0.05, 0.2, 0.25, 0.05, 0.25, 0.5, 0.55, 0.2]
    for name, w in zip(names, weights):
        if r.random() < w:
            fields[name] = rand_field_expr(r, name)
    if dst:
        fields.setdefault("hour", r.choice(["1-3", "2", "1,2,3", "*", "0-4/2", "2-4", 1, 2, 3, "*/2"]))
        if r.random() < 0.5:
            fields["minute"] = r.choice(["*/15", "0,30", 30, 0, "*/7", "45", "0-59/20", "*"])
    if not fields:
        fields["minute"] = "*/5"
    spec = dict(fields)
    spec["timezone"] = zone
    return spec


def dates_for(r, zone):
    spec = {}
    tz = tzobj(zone)
    if r.random() < 0.3:
        base = rand_after(r, zone)
        spec["start_date"] = date_string(r, base, tz)
    if r.random() < 0.3:
        base = rand_after(r, zone) + timedelta(days=r.randint(0, 60))
        spec["end_date"] = date_string(r, base, tz)
    return spec


def date_string(r, dt, tz):
    dt = dt.astimezone(tz)
    c = r.random()
    if c < 0.2:
        return dt.strftime("%Y-%m-%d")
    if c < 0.5:
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    if c < 0.7:
        return dt.strftime("%Y-%m-%dT%H:%M:%S")
    if c < 0.8:
        return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if c < 0.9:
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%06d" % r.randrange(1, 1000000)
    off = r.choice(["+01:00", "-07:00", "+05:30", "+00:00", "-03:30"])
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + off


def build_cron(spec):
    kw = {k: v for k, v in spec.items() if k != "type"}
    return CronTrigger(**kw)


def expand_crontab_field(text, lo, hi, names=None, base=0):
    vals = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        step = int(step) if step else 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, y = rng.split("-")
            a, b = num(x, names, base), num(y, names, base)
        else:
            a = b = num(rng, names, base)
        vals.update(range(a, b + 1, step))
    return sorted(vals)


def num(x, names, base):
    if x.isdigit():
        return int(x)
    return names.index(x.lower()) + base


def crontab_trigger(expr, zone):
    aliases = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
               "@hourly": "0 * * * *"}
    line = aliases.get(expr, expr)
    m, h, dom, mon, dow = line.split()
    minute = expand_crontab_field(m, 0, 59)
    hour = expand_crontab_field(h, 0, 23)
    day = expand_crontab_field(dom, 1, 31)
    month = expand_crontab_field(mon, 1, 12, MONTHS, 1)
    wd = sorted(set((d + 6) % 7 for d in expand_crontab_field(dow, 0, 7, CRON_DOW, 0)))
    j = lambda v: ",".join(map(str, v))
    common = dict(minute=j(minute), hour=j(hour), month=j(month), timezone=zone)
    if dom.startswith("*") or dow.startswith("*"):
        return CronTrigger(day=j(day), day_of_week=j(wd), **common)
    return OrTrigger([CronTrigger(day=j(day), day_of_week="*", **common),
                      CronTrigger(day="*", day_of_week=j(wd), **common)])


def rand_crontab_field(r, lo, hi, names=None, base=0):
    c = r.random()
    if c < 0.3:
        return "*"
    if c < 0.45:
        return f"*/{r.randint(2, max(2, (hi - lo) // 2))}"
    if c < 0.6:
        return str(r.randint(lo, hi))
    if c < 0.75:
        a = r.randint(lo, hi)
        b = r.randint(a, hi)
        return f"{a}-{b}"
    if c < 0.82:
        a = r.randint(lo, hi - 1)
        b = r.randint(a + 1, hi)
        return f"{a}-{b}/{r.randint(1, b - a)}"
    if c < 0.9 and names:
        a = r.randrange(len(names))
        b = r.randrange(a, len(names))
        return names[a] if a == b else f"{names[a]}-{names[b]}"
    vals = sorted(set(r.randint(lo, hi) for _ in range(r.randint(2, 3))))
    return ",".join(map(str, vals))


def rand_crontab(r):
    if r.random() < 0.08:
        return r.choice(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"])
    return " ".join([rand_crontab_field(r, 0, 59), rand_crontab_field(r, 0, 23),
                     rand_crontab_field(r, 1, 31), rand_crontab_field(r, 1, 12, MONTHS, 1),
                     rand_crontab_field(r, 0, 7, CRON_DOW, 0)])


ERROR_TRIGGERS = [
    {"type": "cron", "hour": 24}, {"type": "cron", "minute": "*/0"}, {"type": "cron", "minute": "61"},
    {"type": "cron", "day": "32"}, {"type": "cron", "day": 0}, {"type": "cron", "month": 0},
    {"type": "cron", "year": 1969}, {"type": "cron", "year": 10000}, {"type": "cron", "week": 0},
    {"type": "cron", "hour": "5-3"}, {"type": "cron", "month": "dec-jan"}, {"type": "cron", "day_of_week": "sun-mon"},
    {"type": "cron", "day": "7th fri"}, {"type": "cron", "day": "last xyz"}, {"type": "cron", "hour": ""},
    {"type": "cron", "minute": "1,,2"}, {"type": "cron", "minute": "*/60"}, {"type": "cron", "second": "0-30/31"},
    {"type": "cron", "hour": "1.5"}, {"type": "cron", "hour": 1, "nope": 2}, {"type": "cron", "hour": 1, "timezone": "Mars/Base"},
    {"type": "cron", "hour": 1, "start_date": "2026-13-01"}, {"type": "cron", "hour": 1, "end_date": "2026-01-01 24:00:00"},
    {"type": "cron", "day_of_week": "monday"}, {"type": "cron", "month": "sept"}, {"type": "cron", "hour": "x-3"},
    {"type": "interval", "seconds": "10"}, {"type": "interval", "minutes": 5, "start_date": "yesterday"},
    {"type": "interval", "hours": 1, "timezone": "Europe/Paree"}, {"type": "interval", "hours": 1, "bogus": True},
    {"type": "date", "run_date": "2026-04-31"}, {"type": "date", "run_date": "2026-01-01T10:00"},
    {"type": "date", "run_date": "2026-01-01 10:00:00+0100"}, {"type": "date", "run_date": "20260101"},
    {"type": "crontab", "expr": "* * * *"}, {"type": "crontab", "expr": "60 * * * *"}, {"type": "crontab", "expr": "* 24 * * *"},
    {"type": "crontab", "expr": "* * 0 * *"}, {"type": "crontab", "expr": "* * * 13 *"}, {"type": "crontab", "expr": "* * * * 8"},
    {"type": "crontab", "expr": "*/0 * * * *"}, {"type": "crontab", "expr": "5-1 * * * *"}, {"type": "crontab", "expr": "* * * * MON#2"},
    {"type": "crontab", "expr": "@reboot"}, {"type": "crontab", "expr": "0 0 LW * *"}, {"type": "crontab", "expr": "5/15 * * * *"},
    {"type": "crontab", "expr": "0 0 * * 1L"}, {"type": "crontab", "expr": "* * * * * 2026"},
]


def python_accepts(spec):
    t = dict(spec)
    typ = t.pop("type")
    if typ == "crontab":
        return None  # decided by rsched's rules, not APScheduler's
    cls = {"cron": CronTrigger, "interval": IntervalTrigger, "date": DateTrigger}[typ]
    try:
        cls(**t)
        return True
    except Exception:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    r = random.Random(args.seed)
    out = []
    n = 0

    def add(cat, trigger, after, expect=None, error=False):
        nonlocal n
        n += 1
        v = {"id": f"{cat}-{n:05d}", "trigger": trigger, "after": _LAST_AFTER_TEXT[0]}
        if error:
            v["error"] = True
        else:
            v["expect"] = expect
        out.append(v)

    while len(out) < args.count:
        c = r.random()
        zone = r.choice(ZONES)
        tz = tzobj(zone)
        try:
            if c < 0.30:
                dst = r.random() < 0.5
                if dst:
                    zone = r.choice(DST_ZONES)
                    tz = tzobj(zone)
                spec = rand_cron(r, zone, dst)
                if r.random() < 0.25:
                    spec.update(dates_for(r, zone))
                after = rand_after(r, zone, near_transition=dst)
                trig = build_cron(spec)
                add("cron-dst" if dst else "cron-random", {"type": "cron", **spec}, after, iterate(trig, after, tz))
            elif c < 0.45:
                dst = r.random() < 0.4
                if dst:
                    zone = r.choice(DST_ZONES)
                    tz = tzobj(zone)
                expr = rand_crontab(r)
                after = rand_after(r, zone, near_transition=dst)
                trig = crontab_trigger(expr, zone)
                add("crontab-random", {"type": "crontab", "expr": expr, "timezone": zone}, after, iterate(trig, after, tz))
            elif c < 0.65:
                dst = r.random() < 0.5
                if dst:
                    zone = r.choice(DST_ZONES)
                    tz = tzobj(zone)
                kw = {}
                for unit, hi in [("weeks", 3), ("days", 10), ("hours", 30), ("minutes", 200), ("seconds", 500)]:
                    if r.random() < 0.3:
                        kw[unit] = r.randint(0, hi)
                if r.random() < 0.1:
                    kw["seconds"] = r.choice([0.5, 1.5, 2.25, 90.125])
                if not kw or sum(v for v in kw.values()) == 0:
                    kw["minutes"] = r.randint(1, 120)
                after = rand_after(r, zone, near_transition=dst)
                start = after - timedelta(seconds=r.randrange(-86400 * 3, 86400 * 30))
                kw["start_date"] = date_string(r, start, tz)
                if r.random() < 0.2:
                    kw["end_date"] = date_string(r, after + timedelta(hours=r.randint(0, 200)), tz)
                kw["timezone"] = zone
                trig = IntervalTrigger(**kw)
                add("interval-dst" if dst else "interval-random", {"type": "interval", **kw}, after, iterate(trig, after, tz))
            elif c < 0.75:
                after = rand_after(r, zone, near_transition=r.random() < 0.3)
                run = after + timedelta(seconds=r.randrange(-86400, 86400 * 60))
                kw = {"run_date": date_string(r, run, tz), "timezone": zone}
                trig = DateTrigger(**kw)
                add("date", {"type": "date", **kw}, after, iterate(trig, after, tz))
            else:
                spec = dict(r.choice(ERROR_TRIGGERS))
                spec.setdefault("timezone", "UTC")
                after = rand_after(r, "UTC")
                acc = python_accepts(spec)
                if acc is True:
                    continue  # APScheduler accepts it; not an error vector
                add("error", spec, after, error=True)
        except Exception as e:  # a generator bug or an APScheduler crash: skip
            print(f"skip: {e!r}", file=sys.stderr)
            continue
    print("[")
    print(",\n".join(json.dumps(v) for v in out))
    print("]")


if __name__ == "__main__":
    main()
