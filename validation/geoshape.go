package validation

import (
	"fmt"
	"slices"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime/filter"
)

// Kuzzle's geo_shape validation type: a GeoJSON-like shape as
// Elasticsearch's geo_shape takes it (point, linestring, polygon, their
// multi forms, geometrycollection, envelope, circle), checked as Kuzzle's
// GeoShapeType does. typeOptions.shapeTypes restricts the shapes allowed
// (default: all). Coordinates must be JSON numbers (Kuzzle's comparisons
// let some strings through).

var (
	shapeProperties   = []string{"type", "coordinates", "radius", "orientation", "geometries"}
	shapeOrientations = []string{"right", "ccw", "counterclockwise", "left", "cw", "clockwise"}
	shapeTypes        = []string{"point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "envelope", "circle"}
)

// maxShapeDepth bounds geometrycollection nesting, so that no document can
// make the check recurse without end (the request size bounds the rest).
const maxShapeDepth = 32

func parseGeoShape(opts map[string]any) (typeOptions, error) {
	raw, has := opts["shapeTypes"]
	if !has {
		return typeOptions{shapeTypes: shapeTypes}, nil
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return typeOptions{}, assertErr("validation.assert.invalid_type", "shapeTypes", "string[]")
	}
	var allowedShapes, invalid []string
	for _, v := range list {
		s, _ := v.(string)
		if !slices.Contains(shapeTypes, s) {
			invalid = append(invalid, jsString(v))
			continue
		}
		allowedShapes = append(allowedShapes, s)
	}
	if len(invalid) > 0 {
		// Kuzzle formats the array as JavaScript joins it: with commas.
		return typeOptions{}, kerror.New("validation.types.invalid_geoshape", joinComma(invalid))
	}
	return typeOptions{shapeTypes: allowedShapes}, nil
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

func checkGeoShape(o *typeOptions, v any, _ time.Time) string {
	return checkShape(o.shapeTypes, v, 0)
}

// checkShape returns the first of Kuzzle's messages for a bad shape.
func checkShape(allowedShapes []string, v any, depth int) string {
	shape, _ := v.(map[string]any)
	if msg := checkShapeStructure(allowedShapes, shape); msg != "" {
		return msg
	}
	typ := shape["type"].(string)
	var coords func(any) bool
	switch typ {
	case "point", "multipoint", "circle":
		coords = isShapePoint
	case "linestring", "multilinestring":
		coords = isShapeLine
	case "polygon", "multipolygon":
		coords = isShapePolygon
		if o, has := shape["orientation"]; has && !slices.Contains(shapeOrientations, jsString(o)) {
			return "The orientation property has not a valid value."
		}
	case "envelope":
		coords = isShapeEnvelope
	case "geometrycollection":
		if depth >= maxShapeDepth {
			return "The shape object is nested too deeply."
		}
		for _, g := range shape["geometries"].([]any) {
			if msg := checkShape(allowedShapes, g, depth+1); msg != "" {
				return msg
			}
		}
		return ""
	}
	if typ == "circle" {
		switch r := shape["radius"].(type) {
		case string:
			if _, err := filter.ConvertDistance(r); err != nil {
				return "The radius property has not a valid format."
			}
		default:
			if _, ok := number(r); !ok {
				return "The radius property has not a valid format."
			}
		}
	}
	c := shape["coordinates"].([]any)
	if typ == "multipoint" || typ == "multilinestring" || typ == "multipolygon" {
		for _, part := range c {
			if !coords(part) {
				return fmt.Sprintf(`One of the shapes in  the shape type "%s" has bad coordinates.`, typ)
			}
		}
		return ""
	}
	if !coords(c) {
		return fmt.Sprintf(`The shape type "%s" has bad coordinates.`, typ)
	}
	return ""
}

// checkShapeStructure is Kuzzle's checkStructure: the properties each
// shape type must and must not have.
func checkShapeStructure(allowedShapes []string, shape map[string]any) string {
	typ, _ := shape["type"].(string)
	if _, has := shape["type"]; !has || !truthy(shape["type"]) {
		return "The shape object has no type defined."
	}
	if !allowed(shape, shapeProperties) {
		return "The shape object has a not allowed property."
	}
	if !slices.Contains(allowedShapes, typ) {
		return "The provided shape type is not allowed."
	}
	_, isList := shape["coordinates"].([]any)
	if typ == "geometrycollection" && truthy(shape["coordinates"]) {
		return `The coordinates property must not be provided for the "geometrycollection" shape type.`
	}
	if typ != "geometrycollection" && !isList {
		return fmt.Sprintf(`The coordinates property must be provided for the "%s" shape type.`, typ)
	}
	if typ == "circle" && !truthy(shape["radius"]) {
		return `The radius property is mandatory for the "circle" shape type.`
	}
	if typ != "circle" && truthy(shape["radius"]) {
		return fmt.Sprintf(`The radius property must not be provided for the "%s" shape type.`, typ)
	}
	if typ != "polygon" && typ != "multipolygon" && truthy(shape["orientation"]) {
		return fmt.Sprintf(`The orientation property must not be provided for the "%s" shape type.`, typ)
	}
	if typ != "geometrycollection" && truthy(shape["geometries"]) {
		return fmt.Sprintf(`The geometries property must not be provided for the "%s" shape type.`, typ)
	}
	if _, ok := shape["geometries"].([]any); typ == "geometrycollection" && !ok {
		return `The geometries property must be provided for the "geometrycollection" shape type.`
	}
	return ""
}

func isShapePoint(v any) bool {
	p, ok := v.([]any)
	if !ok || len(p) != 2 {
		return false
	}
	lon, ok1 := number(p[0])
	lat, ok2 := number(p[1])
	return ok1 && ok2 && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

func isShapeLine(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) < 2 {
		return false
	}
	for _, p := range l {
		if !isShapePoint(p) {
			return false
		}
	}
	return true
}

// isShapePolygon: every ring a closed line of 4 points or more.
func isShapePolygon(v any) bool {
	rings, ok := v.([]any)
	if !ok {
		return false
	}
	for _, r := range rings {
		ring, ok := r.([]any)
		if !ok || len(ring) < 4 || !isShapeLine(ring) {
			return false
		}
		first, last := ring[0].([]any), ring[len(ring)-1].([]any)
		for i := range 2 {
			a, _ := number(first[i])
			b, _ := number(last[i])
			if a != b {
				return false
			}
		}
	}
	return true
}

func isShapeEnvelope(v any) bool {
	e, ok := v.([]any)
	return ok && len(e) == 2 && isShapePoint(e[0]) && isShapePoint(e[1])
}
