package cel

import (
	"errors"
	"fmt"
	"testing"
)

func TestEvalIsBoundedByCost(t *testing.T) {
	// Four nested comprehensions over 100 elements: 10^8 steps without a limit.
	p, err := Compile([]string{"self"}, "self.items.all(a, self.items.all(b, self.items.all(c, self.items.all(d, a+b+c+d >= 0))))")
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = int64(i)
	}
	ok, err := p.Eval(map[string]any{"self": map[string]any{"items": items}})
	if !errors.Is(err, ErrCostLimit) || ok {
		t.Fatalf("Eval = %v, %v; want ErrCostLimit", ok, err)
	}
	// The same expression over a short list is fine.
	ok, err = p.Eval(map[string]any{"self": map[string]any{"items": items[:3]}})
	if err != nil || !ok {
		t.Fatalf("Eval over 3 items = %v, %v", ok, err)
	}
}

func TestEvalMissingFieldsAreFalse(t *testing.T) {
	p, err := Compile([]string{"status"}, "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')")
	if err != nil {
		t.Fatal(err)
	}
	for _, vars := range []map[string]any{{}, {"status": map[string]any{}}, {"status": "not a map"}} {
		if ok, err := p.Eval(vars); ok || err != nil {
			t.Errorf("Eval(%v) = %v, %v; want false, nil", vars, ok, err)
		}
	}
	ready := map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}}
	if ok, err := p.Eval(ready); !ok || err != nil {
		t.Errorf("Eval(ready) = %v, %v", ok, err)
	}
}

func TestCompileRefusesWhatIsNotABool(t *testing.T) {
	for _, expr := range []string{"1 + 1", "'text'", "status.(", ""} {
		if _, err := Compile([]string{"status"}, expr); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compile(%q) = %v, want ErrInvalid", expr, err)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache(3)
	for i := range 5 {
		c.put(fmt.Sprint(i), &Program{})
	}
	if c.len() != 3 {
		t.Fatalf("cache holds %d programs, want 3", c.len())
	}
	if _, ok := c.get("0"); ok {
		t.Error("the least recently used program was kept")
	}
	c.get("2") // used: kept over 3
	c.put("5", &Program{})
	if _, ok := c.get("2"); !ok {
		t.Error("a recently used program was evicted")
	}
	if _, ok := c.get("3"); ok {
		t.Error("the least recently used program was kept")
	}
}

func TestCompileStringComputesAString(t *testing.T) {
	p, err := CompileString([]string{"event"}, "event.kind + '/' + event.name")
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Eval(map[string]any{"event": map[string]any{"kind": "Kustomization", "name": "apps"}})
	if err != nil || got != "Kustomization/apps" {
		t.Errorf("Eval = %q, %v", got, err)
	}
	if _, err := p.Eval(map[string]any{"event": map[string]any{"kind": "Kustomization"}}); err == nil {
		t.Error("Eval with a missing field succeeded")
	}
	for _, expr := range []string{"1 + 1", "true", "event.("} {
		if _, err := CompileString([]string{"event"}, expr); !errors.Is(err, ErrInvalid) {
			t.Errorf("CompileString(%q) = %v, want ErrInvalid", expr, err)
		}
	}
	dyn, err := CompileString([]string{"event"}, "event.count")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Eval(map[string]any{"event": map[string]any{"count": 3}}); err == nil {
		t.Error("Eval of a number as a string succeeded")
	}
}

func TestCompileValueFeedsAnotherProgram(t *testing.T) {
	v, err := CompileValue([]string{"claims"}, "claims.sub.split(':')")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := v.Eval(map[string]any{"claims": map[string]any{"sub": "repo:org/app:ref:main"}})
	if err != nil {
		t.Fatal(err)
	}
	check, err := Compile([]string{"claims", "variables"}, "variables.parts[1] == 'org/app'")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := check.Eval(map[string]any{"claims": map[string]any{}, "variables": map[string]any{"parts": parts}}); !ok || err != nil {
		t.Errorf("Eval = %v, %v", ok, err)
	}
	if _, err := CompileValue([]string{"claims"}, "claims.("); !errors.Is(err, ErrInvalid) {
		t.Errorf("CompileValue of a syntax error = %v", err)
	}
}
