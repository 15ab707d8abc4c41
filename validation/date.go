package validation

import (
	"math"
	"sort"
	"strings"
	"time"
)

// dateBound is a date range's bound: a fixed time, or "NOW", resolved when
// a document is checked (parsing reads no clock).
type dateBound struct {
	now bool
	t   time.Time
}

func (b *dateBound) at(now time.Time) time.Time {
	if b.now {
		return now
	}
	return b.t
}

// Elasticsearch's built-in date formats, as Go layouts. A "strict_" format
// parses like its lenient form here. The week-based formats (week_date,
// weekyear, ...) have no Go layout: weekdate.go reads them.
var dateLayouts = map[string][]string{
	"basic_date":                        {"20060102"},
	"basic_date_time":                   {"20060102T150405.000Z0700", "20060102T150405.000Z07:00"},
	"basic_date_time_no_millis":         {"20060102T150405Z0700", "20060102T150405Z07:00"},
	"basic_ordinal_date":                {"2006002"},
	"basic_ordinal_date_time":           {"2006002T150405.000Z0700", "2006002T150405.000Z07:00"},
	"basic_ordinal_date_time_no_millis": {"2006002T150405Z0700", "2006002T150405Z07:00"},
	"basic_t_time":                      {"T150405.000Z0700", "T150405.000Z07:00"},
	"basic_t_time_no_millis":            {"T150405Z0700", "T150405Z07:00"},
	"basic_time":                        {"150405.000Z0700", "150405.000Z07:00"},
	"basic_time_no_millis":              {"150405Z0700", "150405Z07:00"},
	"date":                              {"2006-01-02"},
	"date_hour":                         {"2006-01-02T15"},
	"date_hour_minute":                  {"2006-01-02T15:04"},
	"date_hour_minute_second":           {"2006-01-02T15:04:05"},
	"date_hour_minute_second_fraction":  {"2006-01-02T15:04:05.000"},
	"date_hour_minute_second_millis":    {"2006-01-02T15:04:05.000"},
	"date_optional_time":                isoLayouts,
	"date_time":                         {"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000Z0700"},
	"date_time_no_millis":               {"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700"},
	"hour":                              {"15"},
	"hour_minute":                       {"15:04"},
	"hour_minute_second":                {"15:04:05"},
	"hour_minute_second_fraction":       {"15:04:05.000"},
	"hour_minute_second_millis":         {"15:04:05.000"},
	"ordinal_date":                      {"2006-002"},
	"ordinal_date_time":                 {"2006-002T15:04:05.000Z07:00", "2006-002T15:04:05.000Z0700"},
	"ordinal_date_time_no_millis":       {"2006-002T15:04:05Z07:00", "2006-002T15:04:05Z0700"},
	"t_time":                            {"T15:04:05.000Z07:00", "T15:04:05.000Z0700"},
	"t_time_no_millis":                  {"T15:04:05Z07:00", "T15:04:05Z0700"},
	"time":                              {"15:04:05.000Z07:00", "15:04:05.000Z0700"},
	"time_no_millis":                    {"15:04:05Z07:00", "15:04:05Z0700"},
	"year":                              {"2006"},
	"year_month":                        {"200601"},
	"year_month_day":                    {"20060102"},
}

// isoLayouts are the ISO 8601 forms a range bound or date_optional_time
// accepts.
var isoLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04", "2006-01-02T15", "2006-01-02", "2006-01", "2006",
}

func init() {
	var lenient []string
	for name := range dateLayouts {
		if !strings.HasPrefix(name, "basic_") {
			lenient = append(lenient, name)
		}
	}
	for _, name := range lenient {
		dateLayouts["strict_"+name] = dateLayouts[name]
	}
}

func parseDateOptions(opts map[string]any) (typeOptions, error) {
	o := typeOptions{formats: []string{"epoch_millis"}}
	if raw, has := opts["formats"]; has {
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			return o, assertErr("validation.assert.invalid_type", "formats", "non-empty array")
		}
		o.formats = o.formats[:0]
		var unknown []string
		for _, v := range list {
			s, _ := v.(string)
			_, week := weekFormats[s]
			if _, known := dateLayouts[s]; !known && !week && s != "epoch_millis" && s != "epoch_second" {
				unknown = append(unknown, jsString(v))
				continue
			}
			o.formats = append(o.formats, s)
		}
		if len(unknown) > 0 {
			return o, assertErr("validation.types.invalid_date_format", strings.Join(unknown, ", "))
		}
	}
	if raw, has := opts["range"]; has {
		m, ok := raw.(map[string]any)
		if !ok || !allowed(m, []string{"min", "max"}) {
			return o, assertErr("validation.assert.unexpected_properties", "range", "min, max")
		}
		var err error
		if v, has := m["min"]; has {
			if o.dateMin, err = rangeBound(v); err != nil {
				return o, err
			}
		}
		if v, has := m["max"]; has {
			if o.dateMax, err = rangeBound(v); err != nil {
				return o, err
			}
		}
		if o.dateMin != nil && o.dateMax != nil && !o.dateMin.now && !o.dateMax.now && o.dateMax.t.Before(o.dateMin.t) {
			return o, assertErr("validation.assert.invalid_range", "range", "min", "max")
		}
	}
	return o, nil
}

// rangeBound reads a date range bound: "NOW", an ISO 8601 string, or epoch
// milliseconds.
func rangeBound(v any) (*dateBound, error) {
	if s, ok := v.(string); ok {
		if s == "NOW" {
			return &dateBound{now: true}, nil
		}
		if t, ok := parseLayouts(isoLayouts, s); ok {
			return &dateBound{t: t}, nil
		}
	} else if n, ok := number(v); ok && !math.IsInf(n, 0) && !math.IsNaN(n) && math.Abs(n) < 1e16 {
		return &dateBound{t: time.UnixMilli(int64(n)).UTC()}, nil
	}
	return nil, assertErr("validation.types.invalid_date", jsString(v))
}

func parseLayouts(layouts []string, s string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseDate reads a value in one of the formats, the first that parses
// (now fills a week-based format's missing week).
func parseDate(formats []string, v any, now time.Time) (time.Time, bool) {
	for _, f := range formats {
		switch f {
		case "epoch_millis", "epoch_second":
			n, ok := number(v)
			if !ok || math.IsInf(n, 0) || math.IsNaN(n) || math.Abs(n) > 1e16 {
				continue
			}
			if f == "epoch_second" {
				return time.Unix(0, int64(n*1e9)).UTC(), math.Abs(n) < 1e13
			}
			return time.UnixMilli(int64(n)).UTC(), true
		default:
			s, ok := v.(string)
			if !ok {
				continue
			}
			if wf, ok := weekFormats[f]; ok {
				if t, ok := parseWeekDate(wf, s, now); ok {
					return t, true
				}
				continue
			}
			if t, ok := parseLayouts(dateLayouts[f], s); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

func checkDate(o *typeOptions, v any, now time.Time) string {
	t, ok := parseDate(o.formats, v, now)
	if !ok {
		return "The date format is invalid."
	}
	if o.dateMin != nil && t.Before(o.dateMin.at(now)) {
		return "The provided date is before the defined minimum."
	}
	if o.dateMax != nil && o.dateMax.at(now).Before(t) {
		return "The provided date is after the defined maximum."
	}
	return ""
}

// DateFormats lists the date formats the date type knows, sorted.
func DateFormats() []string {
	out := []string{"epoch_millis", "epoch_second"}
	for f := range dateLayouts {
		out = append(out, f)
	}
	for f := range weekFormats {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}
