package meta

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type testSpec struct {
	Interval      Duration            `json:"interval"`
	RetryInterval *Duration           `json:"retryInterval,omitempty"`
	Steps         []testStep          `json:"steps,omitempty"`
	ByName        map[string]testStep `json:"byName,omitempty"`
	Inline        `json:",inline"`
}

type testStep struct {
	Timeout *Duration `json:"timeout,omitempty"`
}

type Inline struct {
	Wait Duration `json:"wait"`
}

type testObject struct {
	Spec testSpec `json:"spec"`
}

func TestDurationDecodesWhatGoCannotRepresentAsInvalid(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1h30m"`), &d); err != nil || d.Duration != 90*time.Minute || !d.Valid() {
		t.Fatalf("1h30m: %v, %v, valid %v", d.Duration, err, d.Valid())
	}
	if out, _ := json.Marshal(d); string(out) != `"1h30m0s"` {
		t.Errorf("marshal = %s", out)
	}
	if err := json.Unmarshal([]byte(`"9999999999h"`), &d); err != nil || d.Valid() || d.Duration != 0 {
		t.Fatalf("9999999999h: %v, %v, valid %v", d.Duration, err, d.Valid())
	}
	// An invalid value is written back as it was read: nothing is lost or invented.
	if out, _ := json.Marshal(d); string(out) != `"9999999999h"` {
		t.Errorf("marshal of an invalid duration = %s", out)
	}
	if err := json.Unmarshal([]byte(`5`), &d); err == nil {
		t.Error("a number decoded as a duration")
	}
}

// The point of the type: a list with one object whose duration Go cannot represent still
// decodes, so an informer keeps working for every other object of the kind.
func TestListWithAnInvalidDurationDecodes(t *testing.T) {
	var list []testObject
	data := `[{"spec": {"interval": "1m"}}, {"spec": {"interval": "1m", "retryInterval": "9999999999h"}}, {"spec": {"interval": "5m"}}]`
	if err := json.Unmarshal([]byte(data), &list); err != nil {
		t.Fatalf("the list did not decode: %v", err)
	}
	if len(list) != 3 || list[2].Spec.Interval.Duration != 5*time.Minute {
		t.Fatalf("list = %+v", list)
	}
}

func TestInvalidDurationsNamesEachField(t *testing.T) {
	var obj testObject
	data := `{"spec": {"interval": "99999999999999h", "retryInterval": "1m", "wait": "88888888888888h",
		"steps": [{"timeout": "5s"}, {"timeout": "77777777777777h"}], "byName": {"a": {"timeout": "66666666666666h"}}}}`
	if err := json.Unmarshal([]byte(data), &obj); err != nil {
		t.Fatal(err)
	}
	got := InvalidDurations(obj.Spec, "spec")
	want := []string{
		`spec.interval: "99999999999999h"`,
		`spec.steps[1].timeout: "77777777777777h"`,
		`spec.byName[a].timeout: "66666666666666h"`,
		`spec.wait: "88888888888888h"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InvalidDurations = %q\nwant %q", got, want)
	}
	if got := InvalidDurations(&testObject{}, ""); len(got) != 0 {
		t.Errorf("valid object: %q", got)
	}
}
