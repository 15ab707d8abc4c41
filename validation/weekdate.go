package validation

import (
	"regexp"
	"strconv"
	"time"
)

// Kuzzle's week-based date formats (week_date, weekyear_week_day, ...),
// which it parses with moment.js's locale tokens (gggg, ww, e) in moment's
// default "en" locale: weeks start on Sunday (e = 0) and week 1 is the one
// holding January 1st. Go's layouts have no such tokens, hence this.

// weekFormat is one of them: the date part (week-year, then week and day
// of week when the format has them) and the layouts of the time part that
// follows, if any.
type weekFormat struct {
	date *regexp.Regexp
	time []string
}

var (
	basicWeekDate = regexp.MustCompile(`^(\d{4})W(\d{2})([0-6])`)
	weekDate      = regexp.MustCompile(`^(\d{4})-W(\d{2})-([0-6])`)
)

var weekFormats = map[string]weekFormat{
	"basic_week_date":                {date: basicWeekDate},
	"basic_week_date_time":           {date: basicWeekDate, time: dateLayouts["basic_t_time"]},
	"basic_week_date_time_no_millis": {date: basicWeekDate, time: dateLayouts["basic_t_time_no_millis"]},
	"week_date":                      {date: weekDate},
	"week_date_time":                 {date: weekDate, time: dateLayouts["t_time"]},
	"week_date_time_no_millis":       {date: weekDate, time: dateLayouts["t_time_no_millis"]},
	"weekyear":                       {date: regexp.MustCompile(`^(\d{4})`)},
	"weekyear_week":                  {date: regexp.MustCompile(`^(\d{4})(\d{2})`)},
	"weekyear_week_day":              {date: regexp.MustCompile(`^(\d{4})(\d{2})([0-6])`)},
}

func init() {
	// A strict_ format parses like its lenient form here, as the others.
	for name, f := range weekFormats {
		if _, ok := weekFormats["strict_"+name]; !ok {
			weekFormats["strict_"+name] = f
		}
	}
}

// weekOffset is how many days the first week of year starts before
// January 1st (its Sunday).
func weekOffset(year int) int {
	return int(time.Date(year, time.January, 1, 0, 0, 0, 0, time.UTC).Weekday())
}

func daysIn(year int) int {
	return time.Date(year, time.December, 31, 0, 0, 0, 0, time.UTC).YearDay()
}

// weeksIn is the number of weeks of a week-year.
func weeksIn(year int) int {
	return (daysIn(year) + weekOffset(year) - weekOffset(year+1)) / 7
}

// weekOf is t's week number in its week-year.
func weekOf(t time.Time) int {
	y := t.Year()
	w := (t.YearDay()-1+weekOffset(y))/7 + 1
	if w > weeksIn(y) {
		return 1 // the days of late December in the next year's week 1
	}
	return w
}

// parseWeekDate reads s in a week-based format. A week left out is now's,
// as moment does; a day left out is the week's first (Sunday). A week past
// the week-year's last is invalid.
func parseWeekDate(f weekFormat, s string, now time.Time) (time.Time, bool) {
	m := f.date.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	year, _ := strconv.Atoi(m[1])
	week, day := weekOf(now.UTC()), 0
	if len(m) > 2 {
		week, _ = strconv.Atoi(m[2])
	}
	if len(m) > 3 {
		day, _ = strconv.Atoi(m[3])
	}
	if week < 1 || week > weeksIn(year) {
		return time.Time{}, false
	}
	rest := s[len(m[0]):]
	var clock time.Time
	loc := time.UTC
	switch {
	case f.time == nil && rest != "":
		return time.Time{}, false
	case f.time != nil:
		var ok bool
		if clock, ok = parseLayouts(f.time, rest); !ok {
			return time.Time{}, false
		}
		loc = clock.Location()
	}
	d := time.Date(year, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*(week-1)+day-weekOffset(year))
	return time.Date(d.Year(), d.Month(), d.Day(), clock.Hour(), clock.Minute(), clock.Second(), clock.Nanosecond(), loc), true
}
