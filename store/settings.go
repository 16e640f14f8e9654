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
	if st.Value == nil || strings.TrimSpace(*st.Value) == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*st.Value), 10, 64)
	if err != nil || n < 0 {
		return def, nil
	}
	return n, nil
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
	if st.Value == nil {
		return "", nil
	}
	return strings.TrimSpace(*st.Value), nil
}
