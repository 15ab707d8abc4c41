package memstore

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Geo indexes are sorted sets whose scores are 52-bit interleaved geohashes,
// as Redis builds them, so zrange and the others work on them too.
const (
	geoStep      = 26
	geoLatLimit  = 85.05112878
	earthRadiusM = 6372797.560856
)

func interleave(x, y uint32) uint64 {
	spread := func(v uint32) uint64 {
		u := uint64(v)
		u = (u | u<<16) & 0x0000FFFF0000FFFF
		u = (u | u<<8) & 0x00FF00FF00FF00FF
		u = (u | u<<4) & 0x0F0F0F0F0F0F0F0F
		u = (u | u<<2) & 0x3333333333333333
		u = (u | u<<1) & 0x5555555555555555
		return u
	}
	return spread(x) | spread(y)<<1
}

func deinterleave(h uint64) (uint32, uint32) {
	squash := func(u uint64) uint32 {
		u &= 0x5555555555555555
		u = (u | u>>1) & 0x3333333333333333
		u = (u | u>>2) & 0x0F0F0F0F0F0F0F0F
		u = (u | u>>4) & 0x00FF00FF00FF00FF
		u = (u | u>>8) & 0x0000FFFF0000FFFF
		u = (u | u>>16) & 0x00000000FFFFFFFF
		return uint32(u)
	}
	return squash(h), squash(h >> 1)
}

// geoEncode interleaves latitude (even bits) and longitude (odd bits)
// within the given latitude range.
func geoEncode(lon, lat, latMax float64) uint64 {
	latOff := (lat + latMax) / (2 * latMax)
	lonOff := (lon + 180) / 360
	la := uint32(latOff * (1 << geoStep))
	lo := uint32(lonOff * (1 << geoStep))
	return interleave(la, lo)
}

func geoDecode(h uint64) (lon, lat float64) {
	la, lo := deinterleave(h)
	cell := func(v uint32, lo, hi float64) float64 {
		min := lo + float64(v)/(1<<geoStep)*(hi-lo)
		max := lo + float64(v+1)/(1<<geoStep)*(hi-lo)
		return (min + max) / 2
	}
	lat = cell(la, -geoLatLimit, geoLatLimit)
	lon = cell(lo, -180, 180)
	return math.Max(-180, math.Min(180, lon)), math.Max(-geoLatLimit, math.Min(geoLatLimit, lat))
}

func geoDist(lon1, lat1, lon2, lat2 float64) float64 {
	rad := math.Pi / 180
	la1, la2 := lat1*rad, lat2*rad
	u := math.Sin((la2 - la1) / 2)
	v := math.Sin((lon2 - lon1) * rad / 2)
	return 2 * earthRadiusM * math.Asin(math.Sqrt(u*u+math.Cos(la1)*math.Cos(la2)*v*v))
}

func unitFactor(u string) (float64, error) {
	switch strings.ToLower(u) {
	case "m":
		return 1, nil
	case "km":
		return 1000, nil
	case "ft":
		return 0.3048, nil
	case "mi":
		return 1609.34, nil
	}
	return 0, &Error{"ERR unsupported unit provided. please use M, KM, FT, MI"}
}

func fmtGeo(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

func cmdGeoadd(x *ctx, a []string) (any, error) {
	pts := a[1:]
	if len(pts)%3 != 0 {
		return nil, errSyntax
	}
	args := []string{a[0]}
	for i := 0; i < len(pts); i += 3 {
		lon, err1 := strconv.ParseFloat(pts[i], 64)
		lat, err2 := strconv.ParseFloat(pts[i+1], 64)
		if err1 != nil || err2 != nil {
			return nil, errNotFloat
		}
		if lon < -180 || lon > 180 || lat < -geoLatLimit || lat > geoLatLimit {
			return nil, errf("ERR invalid longitude,latitude pair %f,%f", lon, lat)
		}
		args = append(args, strconv.FormatUint(geoEncode(lon, lat, geoLatLimit), 10), pts[i+2])
	}
	return cmdZadd(x, args)
}

func (x *ctx) geoPoint(key, member string) (lon, lat float64, ok bool, err error) {
	e, err := x.get(key, kZSet)
	if err != nil || e == nil {
		return 0, 0, false, err
	}
	s, in := e.zset[member]
	if !in {
		return 0, 0, false, nil
	}
	lon, lat = geoDecode(uint64(s))
	return lon, lat, true, nil
}

func cmdGeodist(x *ctx, a []string) (any, error) {
	f := 1.0
	if len(a) > 3 {
		var err error
		if f, err = unitFactor(a[3]); err != nil {
			return nil, err
		}
	}
	lon1, lat1, ok1, err := x.geoPoint(a[0], a[1])
	if err != nil {
		return nil, err
	}
	lon2, lat2, ok2, err := x.geoPoint(a[0], a[2])
	if err != nil || !ok1 || !ok2 {
		return nil, err
	}
	return fmtGeo(geoDist(lon1, lat1, lon2, lat2) / f), nil
}

func cmdGeopos(x *ctx, a []string) (any, error) {
	out := make([]any, len(a)-1)
	for i, m := range a[1:] {
		lon, lat, ok, err := x.geoPoint(a[0], m)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = []any{fmtFloat(lon), fmtFloat(lat)}
		}
	}
	return out, nil
}

func cmdGeohash(x *ctx, a []string) (any, error) {
	const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
	out := make([]any, len(a)-1)
	for i, m := range a[1:] {
		lon, lat, ok, err := x.geoPoint(a[0], m)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		// The standard geohash uses the full latitude range.
		h := geoEncode(lon, lat, 90)
		b := make([]byte, 11)
		for k := range 11 {
			idx := 0
			if k < 10 {
				idx = int(h>>(52-uint((k+1)*5))) & 0x1f
			}
			b[k] = alphabet[idx]
		}
		out[i] = string(b)
	}
	return out, nil
}

// cmdGeoradius builds georadius (key lon lat radius unit [opts]) and
// georadiusbymember (key member radius unit [opts]).
func cmdGeoradius(byMember bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		var lon, lat float64
		var rest []string
		if byMember {
			var ok bool
			var err error
			lon, lat, ok, err = x.geoPoint(a[0], a[1])
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &Error{"ERR could not decode requested zset member"}
			}
			rest = a[2:]
		} else {
			var err1, err2 error
			lon, err1 = strconv.ParseFloat(a[1], 64)
			lat, err2 = strconv.ParseFloat(a[2], 64)
			if err1 != nil || err2 != nil {
				return nil, errNotFloat
			}
			if lon < -180 || lon > 180 || lat < -geoLatLimit || lat > geoLatLimit {
				return nil, errf("ERR invalid longitude,latitude pair %f,%f", lon, lat)
			}
			rest = a[3:]
		}
		if len(rest) < 2 {
			return nil, errSyntax
		}
		radius, err := strconv.ParseFloat(rest[0], 64)
		if err != nil || radius < 0 {
			return nil, &Error{"ERR need numeric radius"}
		}
		f, err := unitFactor(rest[1])
		if err != nil {
			return nil, err
		}
		var withCoord, withDist, withHash bool
		order, count := 0, -1
		opts := rest[2:]
		for i := 0; i < len(opts); i++ {
			switch strings.ToUpper(opts[i]) {
			case "WITHCOORD":
				withCoord = true
			case "WITHDIST":
				withDist = true
			case "WITHHASH":
				withHash = true
			case "ASC":
				order = 1
			case "DESC":
				order = -1
			case "COUNT":
				if i+1 >= len(opts) {
					return nil, errSyntax
				}
				n, err := parseInt(opts[i+1])
				if err != nil || n <= 0 {
					return nil, &Error{"ERR COUNT must be > 0"}
				}
				count = int(min(n, MaxElements))
				i++
			default:
				return nil, errSyntax
			}
		}
		e, err := x.get(a[0], kZSet)
		if err != nil || e == nil {
			return []any{}, err
		}
		type hit struct {
			m        string
			d        float64
			lon, lat float64
			h        float64
		}
		var hits []hit
		for _, v := range ranked(e) {
			plon, plat := geoDecode(uint64(v.s))
			if d := geoDist(lon, lat, plon, plat); d <= radius*f {
				hits = append(hits, hit{v.m, d, plon, plat, v.s})
			}
		}
		if count > 0 && order == 0 {
			order = 1
		}
		if order != 0 {
			sort.SliceStable(hits, func(i, j int) bool {
				if order > 0 {
					return hits[i].d < hits[j].d
				}
				return hits[i].d > hits[j].d
			})
		}
		if count > 0 && count < len(hits) {
			hits = hits[:count]
		}
		out := make([]any, 0, len(hits))
		for _, h := range hits {
			if !withCoord && !withDist && !withHash {
				out = append(out, h.m)
				continue
			}
			item := []any{h.m}
			if withDist {
				item = append(item, fmtGeo(h.d/f))
			}
			if withHash {
				item = append(item, int64(h.h))
			}
			if withCoord {
				item = append(item, []any{fmtFloat(h.lon), fmtFloat(h.lat)})
			}
			out = append(out, item)
		}
		return out, nil
	}
}
