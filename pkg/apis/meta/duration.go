package meta

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Duration is a length of time written as a Go duration string ('5m', '1h30m'), as
// metav1.Duration is. It differs in one way: a string that the CRD's pattern allows but Go
// cannot represent ('9999999999h', beyond 292 years) decodes as an invalid Duration instead of
// failing. A typed list decodes as a whole, so a single such object would otherwise stop a
// controller's informer for every object of its kind; this way only that object stalls, with
// a message (see InvalidDurations). The CRDs refuse such values for new objects.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="must be a duration Go can represent, at most 2562047h"
type Duration struct {
	time.Duration `json:"-"`

	// invalid holds the text of a value that did not parse.
	invalid string
}

// UnmarshalJSON decodes a duration string, keeping one that does not parse as invalid.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		*d = Duration{invalid: s}
		return nil
	}
	*d = Duration{Duration: parsed}
	return nil
}

// MarshalJSON encodes the duration as Go writes it ('1h0m0s'); an invalid one as it was read.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.invalid != "" {
		return json.Marshal(d.invalid)
	}
	return json.Marshal(d.Duration.String())
}

// Valid reports whether the duration parsed.
func (d Duration) Valid() bool { return d.invalid == "" }

// InvalidDurations lists, as JSON paths below path ('spec.retryInterval: "9999999999h"'), the
// durations in v (a struct or a pointer to one, walked with its nested structs, pointers,
// slices and maps) that did not parse.
func InvalidDurations(v any, path string) []string {
	var out []string
	walkDurations(reflect.ValueOf(v), path, &out)
	return out
}

var durationType = reflect.TypeOf(Duration{})

func walkDurations(v reflect.Value, path string, out *[]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkDurations(v.Elem(), path, out)
		}
	case reflect.Struct:
		if v.Type() == durationType {
			if d := v.Interface().(Duration); !d.Valid() {
				*out = append(*out, fmt.Sprintf("%s: %q", path, d.invalid))
			}
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			child := path
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				// Inlined: no path segment.
			case name == "":
				child = join(path, f.Name)
			default:
				child = join(path, name)
			}
			walkDurations(v.Field(i), child, out)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes
		}
		for i := range v.Len() {
			walkDurations(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walkDurations(iter.Value(), fmt.Sprintf("%s[%v]", path, iter.Key()), out)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
