package store

import (
	"context"
	"strconv"
	"strings"
)

// SettingGetter reads one setting; *Queries and *Store satisfy it.
type SettingGetter interface {
	GetSetting(ctx context.Context, key string) (Setting, error)
}

// IntSetting reads a non-negative integer setting, def when it is unset,
// empty or not such a number (a typo in a setting must not stop the loops).
func IntSetting(ctx context.Context, q SettingGetter, key string, def int64) (int64, error) {
	st, err := q.GetSetting(ctx, key)
	if IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return 0, err
	}
	return intValue(st, def), nil
}

// StringSetting reads a text setting, trimmed; "" when it is unset.
func StringSetting(ctx context.Context, q SettingGetter, key string) (string, error) {
	st, err := q.GetSetting(ctx, key)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return stringValue(st), nil
}

func intValue(st Setting, def int64) int64 {
	if st.Value == nil || strings.TrimSpace(*st.Value) == "" {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*st.Value), 10, 64)
	if err != nil || n < 0 {
		return def
	}
	return n
}

func stringValue(st Setting) string {
	if st.Value == nil {
		return ""
	}
	return strings.TrimSpace(*st.Value)
}

// SettingsGetter reads several settings at once; *Queries and *Store
// satisfy it.
type SettingsGetter interface {
	APIGetSettings(ctx context.Context, keys []string) ([]Setting, error)
}

// Settings is a set of settings read in one query, for a loop that needs
// several of them on each pass; keys not set are absent.
type Settings map[string]Setting

// ReadSettings reads keys in one query.
func ReadSettings(ctx context.Context, q SettingsGetter, keys ...string) (Settings, error) {
	rows, err := q.APIGetSettings(ctx, keys)
	if err != nil {
		return nil, err
	}
	s := make(Settings, len(rows))
	for _, r := range rows {
		s[r.Key] = r
	}
	return s, nil
}

// Int is the key's value as IntSetting reads it.
func (s Settings) Int(key string, def int64) int64 {
	st, ok := s[key]
	if !ok {
		return def
	}
	return intValue(st, def)
}

// String is the key's value as StringSetting reads it.
func (s Settings) String(key string) string {
	return stringValue(s[key])
}
