package redact

import (
	"github.com/go-logr/logr"
)

// LogSink wraps sink so that every line it writes is redacted as conditions and events are:
// the message, every string value and every error (controller-runtime's "Reconciler error"
// lines included) lose URL userinfo, query strings and fragments.
func LogSink(sink logr.LogSink) logr.LogSink {
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1) // this wrapper's frame is not the caller
	}
	return &logSink{sink: sink}
}

type logSink struct {
	sink logr.LogSink
}

func (s *logSink) Init(info logr.RuntimeInfo) {
	info.CallDepth++
	s.sink.Init(info)
}

func (s *logSink) Enabled(level int) bool { return s.sink.Enabled(level) }

func (s *logSink) Info(level int, msg string, kvs ...any) {
	s.sink.Info(level, String(msg), values(kvs)...)
}

func (s *logSink) Error(err error, msg string, kvs ...any) {
	s.sink.Error(Error(err), String(msg), values(kvs)...)
}

func (s *logSink) WithValues(kvs ...any) logr.LogSink {
	return &logSink{sink: s.sink.WithValues(values(kvs)...)}
}

func (s *logSink) WithName(name string) logr.LogSink {
	return &logSink{sink: s.sink.WithName(name)}
}

// WithCallDepth implements logr.CallDepthLogSink.
func (s *logSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.sink.(logr.CallDepthLogSink); ok {
		return &logSink{sink: cd.WithCallDepth(depth)}
	}
	return s
}

// values redacts the values of key/value pairs: strings, errors and what prints as a string.
func values(kvs []any) []any {
	out := make([]any, len(kvs))
	for i, v := range kvs {
		if i%2 == 0 { // a key
			out[i] = v
			continue
		}
		switch v := v.(type) {
		case string:
			out[i] = String(v)
		case error:
			out[i] = Error(v)
		case []string:
			r := make([]string, len(v))
			for j, s := range v {
				r[j] = String(s)
			}
			out[i] = r
		case interface{ String() string }:
			out[i] = String(v.String())
		default:
			out[i] = v
		}
	}
	return out
}
