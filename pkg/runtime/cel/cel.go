package cel

import (
	"container/list"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"k8s.io/apimachinery/pkg/runtime"
)

// CostLimit bounds the work one evaluation may do, in CEL's cost units: the same per-call
// limit the Kubernetes API server puts on a CRD validation rule. A comprehension over a long
// list, or nested ones, stop with ErrCostLimit instead of running for minutes.
const CostLimit = 1_000_000

// cacheSize bounds the compiled programs kept: expressions come from objects, and objects come
// and go.
const cacheSize = 1024

// ErrCostLimit marks an evaluation stopped at CostLimit: the expression must be simplified.
var ErrCostLimit = errors.New("the expression exceeds the CEL cost limit")

// ErrInvalid marks an expression that does not compile or is not a bool.
var ErrInvalid = errors.New("invalid CEL expression")

// Program is a compiled boolean expression over named dynamic variables.
type Program struct {
	p cel.Program
}

var programs = newCache(cacheSize)

// Compile compiles expr, a boolean expression over vars (each of dynamic type), or returns
// it from the cache.
func Compile(vars []string, expr string) (*Program, error) {
	return compile(vars, expr, cel.BoolType)
}

// CompileString compiles expr, an expression over vars that computes a string, such as a
// Provider's commitStatusExpr, or returns it from the cache.
func CompileString(vars []string, expr string) (*StringProgram, error) {
	p, err := compile(vars, expr, cel.StringType)
	if err != nil {
		return nil, err
	}
	return &StringProgram{p: p.p}, nil
}

// CompileValue compiles expr, an expression over vars of any type, such as the variables
// of a generic-oidc Receiver, or returns it from the cache.
func CompileValue(vars []string, expr string) (*ValueProgram, error) {
	p, err := compile(vars, expr, nil)
	if err != nil {
		return nil, err
	}
	return &ValueProgram{p: p.p}, nil
}

// ValueProgram is a compiled expression of any type.
type ValueProgram struct {
	p cel.Program
}

// Eval evaluates the program; its value can be bound to a variable of another program.
func (p *ValueProgram) Eval(vars map[string]any) (any, error) {
	out, details, err := p.p.Eval(vars)
	if err != nil {
		if details != nil && details.ActualCost() != nil && *details.ActualCost() >= CostLimit ||
			strings.Contains(err.Error(), "cost limit exceeded") {
			return nil, ErrCostLimit
		}
		return nil, err
	}
	return out, nil
}

// compile compiles expr, which must compute a want (any type when want is nil).
func compile(vars []string, expr string, want *cel.Type) (*Program, error) {
	wantName := "any"
	if want != nil {
		wantName = want.String()
	}
	key := wantName + "\x00" + strings.Join(vars, ",") + "\x00" + expr
	if p, ok := programs.get(key); ok {
		return p, nil
	}
	// The string functions the Kubernetes API server's CEL has (split, lowerAscii, ...).
	opts := []cel.EnvOption{ext.Strings()}
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w '%s': %s", ErrInvalid, expr, iss.Err())
	}
	if want != nil && ast.OutputType() != want && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("%w '%s': it must evaluate to a %s, not %s", ErrInvalid, expr, want, ast.OutputType())
	}
	p, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("%w '%s': %s", ErrInvalid, expr, err)
	}
	prog := &Program{p: p}
	programs.put(key, prog)
	return prog, nil
}

// StringProgram is a compiled expression that computes a string.
type StringProgram struct {
	p cel.Program
}

// Eval evaluates the program. Unlike a boolean condition, a string has no safe default: a
// missing field, a value that is not a string, or the cost limit is an error.
func (p *StringProgram) Eval(vars map[string]any) (string, error) {
	out, details, err := p.p.Eval(vars)
	if err != nil {
		if details != nil && details.ActualCost() != nil && *details.ActualCost() >= CostLimit ||
			strings.Contains(err.Error(), "cost limit exceeded") {
			return "", ErrCostLimit
		}
		return "", err
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("the expression computed a %s, not a string", out.Type().TypeName())
	}
	return s, nil
}

// Eval evaluates the program. A value that is not there yet (a field an object does not have,
// a key a map lacks) or not a bool makes it false: the object is not in that state. Only an
// evaluation stopped at the cost limit is an error.
func (p *Program) Eval(vars map[string]any) (bool, error) {
	out, details, err := p.p.Eval(vars)
	if err != nil {
		if details != nil && details.ActualCost() != nil && *details.ActualCost() >= CostLimit ||
			strings.Contains(err.Error(), "cost limit exceeded") {
			return false, ErrCostLimit
		}
		return false, nil
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

// cache is a least-recently-used map of compiled programs.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *entry, most recently used first
	index map[string]*list.Element
}

type entry struct {
	key string
	p   *Program
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), index: map[string]*list.Element{}}
}

func (c *cache) get(key string) (*Program, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*entry).p, true
}

func (c *cache) put(key string, p *Program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.index[key] = c.order.PushFront(&entry{key: key, p: p})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.index, last.Value.(*entry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// ReadyExpr evaluates a dependsOn readyExpr with 'self' (the dependent) and 'dep' (the
// dependency), both Kubernetes objects.
func ReadyExpr(expr string, self, dep any) (bool, error) {
	p, err := Compile([]string{"self", "dep"}, expr)
	if err != nil {
		return false, err
	}
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(self)
	if err != nil {
		return false, err
	}
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	if err != nil {
		return false, err
	}
	ready, err := p.Eval(map[string]any{"self": s, "dep": d})
	if err != nil {
		return false, fmt.Errorf("readyExpr '%s': %w", expr, err)
	}
	return ready, nil
}
