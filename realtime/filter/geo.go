package filter

import (
	"errors"
	"math"
	"strings"
)

// earthRadius is the mean Earth radius (IUGG) in meters. Distances use a
// spherical Earth; Koncorde's boost backend uses an ellipsoid, the difference
// is below 0.5 % and only visible right on a circle's border.
const earthRadius = 6371008.8

type geoKind uint8

const (
	geoBox geoKind = iota + 1
	geoCircle
	geoAnnulus
	geoPoly
)

type point struct{ lat, lon float64 }

// shape is a standardized geo condition. Bounding boxes are kept in
// top/left/bottom/right form, circles and annuli in meters.
type shape struct {
	kind                     geoKind
	top, left, bottom, right float64 // geoBox
	center                   point   // circle, annulus
	from, to                 float64 // annulus radii; circle radius in to
	poly                     []point // polygon vertices, not closed

	// envelope in degrees, precomputed for the spatial index
	minLat, maxLat, minLon, maxLon float64
	wrap                           bool // envelope crosses the antimeridian (box only)
}

func (s *shape) init() {
	switch s.kind {
	case geoBox:
		s.minLat, s.maxLat = s.bottom, s.top
		s.minLon, s.maxLon = s.left, s.right
		s.wrap = s.left > s.right
	case geoCircle, geoAnnulus:
		dlat := s.to / earthRadius * 180 / math.Pi
		s.minLat = math.Max(-90, s.center.lat-dlat)
		s.maxLat = math.Min(90, s.center.lat+dlat)
		coslat := math.Cos(s.center.lat * math.Pi / 180)
		if s.maxLat >= 90 || s.minLat <= -90 || coslat < 1e-9 {
			s.minLon, s.maxLon = -180, 180
		} else {
			// The widest longitude extent of a spherical cap is reached at the
			// latitude where the great circle is tangent to a meridian.
			sinr := math.Sin(s.to / earthRadius)
			if sinr >= coslat {
				s.minLon, s.maxLon = -180, 180
			} else {
				dlon := math.Asin(sinr/coslat) * 180 / math.Pi
				s.minLon, s.maxLon = s.center.lon-dlon, s.center.lon+dlon
				if s.minLon < -180 || s.maxLon > 180 {
					s.minLon, s.maxLon = -180, 180
				}
			}
		}
	case geoPoly:
		s.minLat, s.maxLat = math.Inf(1), math.Inf(-1)
		s.minLon, s.maxLon = math.Inf(1), math.Inf(-1)
		for _, p := range s.poly {
			s.minLat = math.Min(s.minLat, p.lat)
			s.maxLat = math.Max(s.maxLat, p.lat)
			s.minLon = math.Min(s.minLon, p.lon)
			s.maxLon = math.Max(s.maxLon, p.lon)
		}
	}
}

// contains reports whether p lies in the shape, borders included.
func (s *shape) contains(p point) bool {
	switch s.kind {
	case geoBox:
		if p.lat < s.bottom || p.lat > s.top {
			return false
		}
		if s.wrap {
			return p.lon >= s.left || p.lon <= s.right
		}
		return p.lon >= s.left && p.lon <= s.right
	case geoCircle:
		if p.lat < s.minLat || p.lat > s.maxLat || p.lon < s.minLon || p.lon > s.maxLon {
			return false
		}
		return haversine(s.center, p) <= s.to
	case geoAnnulus:
		if p.lat < s.minLat || p.lat > s.maxLat || p.lon < s.minLon || p.lon > s.maxLon {
			return false
		}
		d := haversine(s.center, p)
		return d <= s.to && d >= s.from
	case geoPoly:
		if p.lat < s.minLat || p.lat > s.maxLat || p.lon < s.minLon || p.lon > s.maxLon {
			return false
		}
		return pointInPolygon(s.poly, p)
	}
	return false
}

func haversine(a, b point) float64 {
	const rad = math.Pi / 180
	dlat := (b.lat - a.lat) * rad
	dlon := (b.lon - a.lon) * rad
	sa := math.Sin(dlat / 2)
	so := math.Sin(dlon / 2)
	h := sa*sa + math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*so*so
	if h > 1 {
		h = 1
	}
	return 2 * earthRadius * math.Asin(math.Sqrt(h))
}

// pointInPolygon treats edges as straight lines in (lon, lat) space and
// counts points on an edge as inside, like boost's covered_by. It is a
// crossing-number test written with cross products so that edges not
// straddling the point's latitude cost two comparisons.
func pointInPolygon(poly []point, p point) bool {
	in := false
	n := len(poly)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := poly[j], poly[i]
		if a.lat == p.lat {
			if a.lon == p.lon {
				return true
			}
			if b.lat == p.lat && (p.lon-a.lon)*(p.lon-b.lon) <= 0 {
				return true
			}
		}
		if (a.lat > p.lat) != (b.lat > p.lat) {
			cross := (b.lon-a.lon)*(p.lat-a.lat) - (b.lat-a.lat)*(p.lon-a.lon)
			if cross == 0 {
				return true
			}
			if (cross > 0) == (b.lat > a.lat) {
				in = !in
			}
		}
	}
	return in
}

// convertGeopoint accepts every geopoint format Koncorde does:
// [lat, lon], "lat, lon", a geohash, {lat, lon}, and {latLon|lat_lon: any
// of the former}. Coordinates may be numbers or numeric strings.
func convertGeopoint(v any) (point, bool) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return point{}, false
		}
		return geopointFromString(x)
	case []any:
		if len(x) == 2 {
			return toCoordinate(x[0], x[1])
		}
		return point{}, false
	case map[string]any:
		lat, okLat := x["lat"]
		lon, okLon := x["lon"]
		if okLat && okLon {
			return toCoordinate(lat, lon)
		}
		ll, ok := x["latLon"]
		if !ok {
			ll, ok = x["lat_lon"]
		}
		if !ok {
			return point{}, false
		}
		switch y := ll.(type) {
		case []any:
			if len(y) == 2 {
				return toCoordinate(y[0], y[1])
			}
		case map[string]any:
			lat, okLat := y["lat"]
			lon, okLon := y["lon"]
			if okLat && okLon {
				return toCoordinate(lat, lon)
			}
		case string:
			return geopointFromString(y)
		}
	}
	return point{}, false
}

func geopointFromString(s string) (point, bool) {
	if parts := strings.Split(s, ","); len(parts) == 2 {
		return toCoordinate(parts[0], parts[1])
	}
	if isGeohashSyntax(s) {
		return decodeGeohash(s)
	}
	return point{}, false
}

func toCoordinate(lat, lon any) (point, bool) {
	la, ok1 := jsParseFloat(lat)
	lo, ok2 := jsParseFloat(lon)
	if !ok1 || !ok2 {
		return point{}, false
	}
	return point{lat: la, lon: lo}, true
}

func isGeohashSyntax(s string) bool {
	if len(s) < 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

const geohashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz"

// decodeGeohash returns the center of the geohash cell.
func decodeGeohash(s string) (point, bool) {
	minLat, maxLat := -90.0, 90.0
	minLon, maxLon := -180.0, 180.0
	even := true
	for i := 0; i < len(s); i++ {
		// Characters outside the alphabet decode as 0, as in ngeohash.
		v := strings.IndexByte(geohashAlphabet, s[i])
		if v < 0 {
			v = 0
		}
		for bit := 4; bit >= 0; bit-- {
			b := v>>uint(bit)&1 == 1
			if even {
				mid := (minLon + maxLon) / 2
				if b {
					minLon = mid
				} else {
					maxLon = mid
				}
			} else {
				mid := (minLat + maxLat) / 2
				if b {
					minLat = mid
				} else {
					maxLat = mid
				}
			}
			even = !even
		}
	}
	return point{lat: (minLat + maxLat) / 2, lon: (minLon + maxLon) / 2}, true
}

var distanceUnits = map[string]float64{
	"meter": 1, "m": 1,
	"feet": 0.3048, "ft": 0.3048,
	"inch": 0.0254, "in": 0.0254,
	"yard": 0.9144, "yd": 0.9144,
	"mile": 1609.34, "mi": 1609.34,
}

type prefix struct {
	p string
	m float64
}

// Prefix tables follow node-units (used by Koncorde), lower-cased since
// Koncorde lower-cases distances before parsing.
var shortPrefixes = []prefix{
	{"da", 10}, {"mu", 1e-6}, {"m", 1e-3}, {"h", 100}, {"k", 1000},
	{"n", 1e-9}, {"p", 1e-12}, {"c", 1e-2}, {"d", 1e-1}, {"f", 1e-15},
	{"a", 1e-18}, {"z", 1e-21}, {"y", 1e-24},
}

var longPrefixes = []prefix{
	{"milli", 1e-3}, {"micro", 1e-6}, {"nano", 1e-9}, {"pico", 1e-12},
	{"centi", 1e-2}, {"deci", 1e-1}, {"femto", 1e-15}, {"atto", 1e-18},
	{"zepto", 1e-21}, {"yocto", 1e-24}, {"deka", 10}, {"hecto", 100},
	{"kilo", 1000}, {"mega", 1e6}, {"giga", 1e9}, {"tera", 1e12},
	{"peta", 1e15}, {"exa", 1e18}, {"zeta", 1e21}, {"yotta", 1e24},
}

func unitFactor(u string) (float64, bool) {
	variations := []string{u}
	if len(u) != 2 {
		for _, suf := range []string{"s", "es", "ies"} {
			if strings.HasSuffix(u, suf) {
				variations = append(variations, strings.TrimSuffix(u, suf))
			}
		}
	}
	factor, found := 0.0, false
	// node-units keeps the last candidate that parses, so do we.
	for _, v := range variations {
		if f, ok := distanceUnits[v]; ok {
			factor, found = f, true
			continue
		}
		prefixes := shortPrefixes
		if len(v) > 3 {
			prefixes = longPrefixes
		}
		for _, p := range prefixes {
			if strings.HasPrefix(v, p.p) {
				if f, ok := distanceUnits[v[len(p.p):]]; ok {
					factor, found = f*p.m, true
				}
				break
			}
		}
	}
	return factor, found
}

var errDistance = errors.New("bad distance")

// ConvertDistance is convertDistance for the validation specifications'
// geo_shape circles, whose radius Kuzzle reads with Koncorde's parser.
func ConvertDistance(s string) (float64, error) { return convertDistance(s) }

// convertDistance parses a distance ("1km", "10 kilometers", "1 093,6 yd")
// into meters. Unlike Koncorde 4.7, a number without unit means meters, as
// Koncorde's documentation states.
func convertDistance(s string) (float64, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u00a0':
		case r == ',':
			b.WriteByte('.')
		default:
			b.WriteRune(r)
		}
	}
	cleaned := strings.ToLower(b.String())
	// split at the first letter following a digit
	split := -1
	for i := 1; i < len(cleaned); i++ {
		if cleaned[i-1] >= '0' && cleaned[i-1] <= '9' && cleaned[i] >= 'a' && cleaned[i] <= 'z' {
			split = i
			break
		}
	}
	if split < 0 {
		f, ok := parseWholeNumber(cleaned)
		if !ok {
			return 0, errDistance
		}
		return f, nil
	}
	num, unit := cleaned[:split], cleaned[split:]
	for i := 0; i < len(unit); i++ {
		if unit[i] < 'a' || unit[i] > 'z' {
			return 0, errDistance
		}
	}
	f, ok := jsParseFloat(num)
	if !ok {
		return 0, errDistance
	}
	factor, ok := unitFactor(unit)
	if !ok {
		return 0, errDistance
	}
	return f * factor, nil
}

func parseWholeNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	f, ok := jsParseFloat(s)
	if !ok {
		return 0, false
	}
	// the whole string must be numeric, "12abc" is not a distance
	if formatted := strings.TrimLeft(s, "+"); formatted == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == '+') {
			return 0, false
		}
	}
	return f, true
}

// IsGeopoint reports whether v is a geopoint in one of the formats
// Koncorde accepts (the validation specifications' geo_point type).
func IsGeopoint(v any) bool {
	_, ok := convertGeopoint(v)
	return ok
}
