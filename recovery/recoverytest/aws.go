package recoverytest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// AWS fakes what medic reads and changes in an environment's AWS account: alarms
// (recovery.AlarmReader, AlarmSetter), Lambda functions (FunctionReader,
// LambdaUpdater), DynamoDB tables (TableCleaner), and what diagnostics read
// (EnvReader). Each method's Func field, when set, answers instead of the defaults.
// Every call is recorded.
//
// Defaults: no alarm fires until SetAlarms; SetAlarmOK takes the alarm out of ALARM;
// an environment's functions are Active, Successful, at the version SetVersion set;
// artifacts exist; tables exist, ACTIVE, with SetItems items (DeleteAllItems empties
// them); buckets exist; no secret, policy statement, log event, alarm history or
// state lock (SetLocks) is there.
type AWS struct {
	Recorder

	AlarmsFiringFunc   func(ctx context.Context, env recovery.Environment) ([]recovery.Alarm, error)
	SetAlarmOKFunc     func(ctx context.Context, env recovery.Environment, alarm, reason string) error
	FunctionsFunc      func(ctx context.Context, env recovery.Environment) ([]recovery.FunctionStatus, error)
	FunctionCodeFunc   func(ctx context.Context, env recovery.Environment, name string) (recovery.FunctionCode, error)
	ArtifactFunc       func(ctx context.Context, env recovery.Environment, bucket, key string) (recovery.ArtifactInfo, error)
	UpdateCodeFunc     func(ctx context.Context, env recovery.Environment, name, bucket, key string) (string, error)
	WaitUpdatedFunc    func(ctx context.Context, env recovery.Environment, name string, poll time.Duration) (recovery.FunctionCode, error)
	CountItemsFunc     func(ctx context.Context, env recovery.Environment, table string) (int, error)
	DeleteAllItemsFunc func(ctx context.Context, env recovery.Environment, table string) (int, error)
	TableFunc          func(ctx context.Context, env recovery.Environment, name string) (recovery.TableStatus, error)
	BucketExistsFunc   func(ctx context.Context, env recovery.Environment, name string) (bool, error)
	SecretsFunc        func(ctx context.Context, env recovery.Environment, prefix string) ([]recovery.SecretMeta, error)
	UserPolicyFunc     func(ctx context.Context, env recovery.Environment, user, policy string) ([]recovery.PolicyStatement, error)
	LogEventsFunc      func(ctx context.Context, env recovery.Environment, group, pattern string, since time.Time, limit int) ([]recovery.LogEvent, error)
	AlarmHistoryFunc   func(ctx context.Context, env recovery.Environment, alarm string, limit int) ([]recovery.AlarmHistoryItem, error)
	StateLocksFunc     func(ctx context.Context, env recovery.Environment, table string) ([]recovery.StateLock, error)

	mu       sync.Mutex
	alarms   map[string][]recovery.Alarm // by environment
	versions map[string]string           // by environment
	items    map[string]int              // by table
	locks    map[string][]recovery.StateLock
}

var (
	_ recovery.AlarmReader    = (*AWS)(nil)
	_ recovery.AlarmSetter    = (*AWS)(nil)
	_ recovery.FunctionReader = (*AWS)(nil)
	_ recovery.LambdaUpdater  = (*AWS)(nil)
	_ recovery.TableCleaner   = (*AWS)(nil)
	_ recovery.EnvReader      = (*AWS)(nil)
)

// NewAWS returns an AWS where nothing is in ALARM.
func NewAWS() *AWS {
	return &AWS{alarms: map[string][]recovery.Alarm{}, versions: map[string]string{}, items: map[string]int{}, locks: map[string][]recovery.StateLock{}}
}

// SetAlarms sets the alarms of env in ALARM (none when called without alarms).
func (a *AWS) SetAlarms(env string, alarms ...recovery.Alarm) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alarms[env] = slices.Clone(alarms)
}

// AddAlarm puts an alarm of env in ALARM (replacing one of the same name).
func (a *AWS) AddAlarm(env string, alarm recovery.Alarm) {
	a.mu.Lock()
	defer a.mu.Unlock()
	alarms := slices.DeleteFunc(a.alarms[env], func(x recovery.Alarm) bool { return x.Name == alarm.Name })
	a.alarms[env] = append(alarms, alarm)
}

// SetVersion sets the version env's functions run.
func (a *AWS) SetVersion(env, version string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.versions[env] = version
}

// SetItems sets how many items a table holds.
func (a *AWS) SetItems(table string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.items[table] = n
}

// SetLocks sets the state locks a lock table holds.
func (a *AWS) SetLocks(table string, locks ...recovery.StateLock) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.locks[table] = slices.Clone(locks)
}

// AlarmsFiring returns what SetAlarms set for env.
func (a *AWS) AlarmsFiring(ctx context.Context, env recovery.Environment) ([]recovery.Alarm, error) {
	a.record("AlarmsFiring", env.Name)
	if a.AlarmsFiringFunc != nil {
		return a.AlarmsFiringFunc(ctx, env)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.alarms[env.Name]), nil
}

// SetAlarmOK takes the alarm out of env's alarms in ALARM.
func (a *AWS) SetAlarmOK(ctx context.Context, env recovery.Environment, alarm, reason string) error {
	a.record("SetAlarmOK", env.Name, alarm, reason)
	if a.SetAlarmOKFunc != nil {
		return a.SetAlarmOKFunc(ctx, env, alarm, reason)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alarms[env.Name] = slices.DeleteFunc(a.alarms[env.Name], func(x recovery.Alarm) bool { return x.Name == alarm })
	return nil
}

// Functions lists env's functions, Active and Successful, at SetVersion's version.
func (a *AWS) Functions(ctx context.Context, env recovery.Environment) ([]recovery.FunctionStatus, error) {
	a.record("Functions", env.Name)
	if a.FunctionsFunc != nil {
		return a.FunctionsFunc(ctx, env)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []recovery.FunctionStatus
	for _, fn := range env.Functions {
		out = append(out, recovery.FunctionStatus{Name: fn, State: "Active", LastUpdateStatus: "Successful", Version: a.versions[env.Name]})
	}
	return out, nil
}

// FunctionCode describes a function's code at SetVersion's version.
func (a *AWS) FunctionCode(ctx context.Context, env recovery.Environment, name string) (recovery.FunctionCode, error) {
	a.record("FunctionCode", env.Name, name)
	if a.FunctionCodeFunc != nil {
		return a.FunctionCodeFunc(ctx, env, name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return recovery.FunctionCode{Name: name, CodeSha256: "Y29kZS1zaGEyNTY=", Version: "1", LastUpdateStatus: "Successful", State: "Active"}, nil
}

// Artifact says the object exists.
func (a *AWS) Artifact(ctx context.Context, env recovery.Environment, bucket, key string) (recovery.ArtifactInfo, error) {
	a.record("Artifact", env.Name, bucket, key)
	if a.ArtifactFunc != nil {
		return a.ArtifactFunc(ctx, env, bucket, key)
	}
	return recovery.ArtifactInfo{Bucket: bucket, Key: key, Exists: true, SHA256: "YXJ0aWZhY3Qtc2hhMjU2", Size: 1 << 20}, nil
}

// UpdateCode records the update and returns version "2".
func (a *AWS) UpdateCode(ctx context.Context, env recovery.Environment, name, bucket, key string) (string, error) {
	a.record("UpdateCode", env.Name, name, bucket, key)
	if a.UpdateCodeFunc != nil {
		return a.UpdateCodeFunc(ctx, env, name, bucket, key)
	}
	return "2", nil
}

// WaitUpdated answers at once that the function is Active and Successful.
func (a *AWS) WaitUpdated(ctx context.Context, env recovery.Environment, name string, poll time.Duration) (recovery.FunctionCode, error) {
	a.record("WaitUpdated", env.Name, name)
	if a.WaitUpdatedFunc != nil {
		return a.WaitUpdatedFunc(ctx, env, name, poll)
	}
	return recovery.FunctionCode{Name: name, CodeSha256: "YXJ0aWZhY3Qtc2hhMjU2", Version: "2", LastUpdateStatus: "Successful", State: "Active"}, nil
}

// CountItems returns SetItems' count.
func (a *AWS) CountItems(ctx context.Context, env recovery.Environment, table string) (int, error) {
	a.record("CountItems", env.Name, table)
	if a.CountItemsFunc != nil {
		return a.CountItemsFunc(ctx, env, table)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.items[table], nil
}

// DeleteAllItems empties the table and returns how many items it held.
func (a *AWS) DeleteAllItems(ctx context.Context, env recovery.Environment, table string) (int, error) {
	a.record("DeleteAllItems", env.Name, table)
	if a.DeleteAllItemsFunc != nil {
		return a.DeleteAllItemsFunc(ctx, env, table)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.items[table]
	a.items[table] = 0
	return n, nil
}

// Table says the table exists and is ACTIVE.
func (a *AWS) Table(ctx context.Context, env recovery.Environment, name string) (recovery.TableStatus, error) {
	a.record("Table", env.Name, name)
	if a.TableFunc != nil {
		return a.TableFunc(ctx, env, name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return recovery.TableStatus{Name: name, Exists: true, Status: "ACTIVE", ItemCount: int64(a.items[name])}, nil
}

// BucketExists says yes.
func (a *AWS) BucketExists(ctx context.Context, env recovery.Environment, name string) (bool, error) {
	a.record("BucketExists", env.Name, name)
	if a.BucketExistsFunc != nil {
		return a.BucketExistsFunc(ctx, env, name)
	}
	return true, nil
}

// Secrets lists none.
func (a *AWS) Secrets(ctx context.Context, env recovery.Environment, prefix string) ([]recovery.SecretMeta, error) {
	a.record("Secrets", env.Name, prefix)
	if a.SecretsFunc != nil {
		return a.SecretsFunc(ctx, env, prefix)
	}
	return nil, nil
}

// UserPolicy returns no statement.
func (a *AWS) UserPolicy(ctx context.Context, env recovery.Environment, user, policy string) ([]recovery.PolicyStatement, error) {
	a.record("UserPolicy", env.Name, user, policy)
	if a.UserPolicyFunc != nil {
		return a.UserPolicyFunc(ctx, env, user, policy)
	}
	return nil, nil
}

// LogEvents returns no event.
func (a *AWS) LogEvents(ctx context.Context, env recovery.Environment, group, pattern string, since time.Time, limit int) ([]recovery.LogEvent, error) {
	a.record("LogEvents", env.Name, group, pattern)
	if a.LogEventsFunc != nil {
		return a.LogEventsFunc(ctx, env, group, pattern, since, limit)
	}
	return nil, nil
}

// AlarmHistory returns no item.
func (a *AWS) AlarmHistory(ctx context.Context, env recovery.Environment, alarm string, limit int) ([]recovery.AlarmHistoryItem, error) {
	a.record("AlarmHistory", env.Name, alarm)
	if a.AlarmHistoryFunc != nil {
		return a.AlarmHistoryFunc(ctx, env, alarm, limit)
	}
	return nil, nil
}

// StateLocks returns what SetLocks set for the table.
func (a *AWS) StateLocks(ctx context.Context, env recovery.Environment, table string) ([]recovery.StateLock, error) {
	a.record("StateLocks", env.Name, table)
	if a.StateLocksFunc != nil {
		return a.StateLocksFunc(ctx, env, table)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.locks[table]), nil
}

// Health is a recovery.HealthChecker answering SetStatus's code (200 by default) for
// each environment; CheckHealthFunc, when set, answers instead.
type Health struct {
	Recorder
	CheckHealthFunc func(ctx context.Context, env recovery.Environment) (recovery.HealthResult, error)

	mu    sync.Mutex
	codes map[string]int
}

var _ recovery.HealthChecker = (*Health)(nil)

// NewHealth returns a Health where every environment answers 200.
func NewHealth() *Health { return &Health{codes: map[string]int{}} }

// SetStatus makes env's health endpoint answer code.
func (h *Health) SetStatus(env string, code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.codes[env] = code
}

// CheckHealth answers env's status code.
func (h *Health) CheckHealth(ctx context.Context, env recovery.Environment) (recovery.HealthResult, error) {
	h.record("CheckHealth", env.Name)
	if h.CheckHealthFunc != nil {
		return h.CheckHealthFunc(ctx, env)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	code, ok := h.codes[env.Name]
	if !ok {
		code = 200
	}
	return recovery.HealthResult{StatusCode: code, Body: fmt.Sprintf(`{"status":%d}`, code), Latency: 20 * time.Millisecond}, nil
}
