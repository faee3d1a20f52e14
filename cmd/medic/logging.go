package main

import (
	"encoding/json"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/medic-ops/medic/recovery"
)

// redactLogs makes every line log writes go through recovery.Redact: its message and
// every field, whatever its type (an error quoting a presigned URL, a struct holding
// a token). It is the log's exit; callers need not remember to redact.
func redactLogs(log *zap.Logger) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return redactCore{c} }))
}

type redactCore struct{ zapcore.Core }

func (c redactCore) With(fields []zapcore.Field) zapcore.Core {
	return redactCore{c.Core.With(redactFields(fields))}
}

func (c redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c redactCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = recovery.Redact(e.Message)
	return c.Core.Write(e, redactFields(fields))
}

// redactFields returns fields with their text redacted. Strings are redacted as
// they are; a field of any other carrying type is encoded as the log would encode it,
// redacted, and logged as that value.
func redactFields(fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, 0, len(fields))
	for _, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			f.String = recovery.Redact(f.String)
		case zapcore.ReflectType:
			// The map encoder keeps a reflected value as it is; JSON is how the log
			// shows it.
			var v any
			if b, err := json.Marshal(f.Interface); err == nil && json.Unmarshal(b, &v) == nil {
				v, _ = recovery.RedactValue(v)
				f = zap.Any(f.Key, v)
			} else {
				f = zap.String(f.Key, recovery.Redact(fmt.Sprint(f.Interface)))
			}
		case zapcore.ByteStringType, zapcore.BinaryType, zapcore.ErrorType, zapcore.StringerType,
			zapcore.ArrayMarshalerType, zapcore.ObjectMarshalerType, zapcore.InlineMarshalerType:
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			if f.Type != zapcore.InlineMarshalerType {
				enc.Fields = map[string]any{f.Key: enc.Fields[f.Key]}
			}
			for k, v := range enc.Fields {
				v, _ = recovery.RedactValue(plainValue(v))
				out = append(out, zap.Any(k, v))
			}
			continue
		}
		out = append(out, f)
	}
	return out
}

// plainValue turns what zap's map encoder holds (strings, []byte, nested maps and
// slices of its own types) into maps, slices and strings RedactValue walks.
func plainValue(v any) any {
	switch t := v.(type) {
	case []byte:
		return string(t)
	case map[string]any:
		for k, e := range t {
			t[k] = plainValue(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = plainValue(e)
		}
		return t
	case interface{ Error() string }:
		return t.Error()
	case interface{ String() string }:
		return t.String()
	}
	return v
}
