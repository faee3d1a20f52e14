package awsfake

import "encoding/base64"

// page returns up to max items of items, starting at the item the token names, and the
// token of the next page ("" on the last page). Tokens are opaque to clients, as AWS's
// are: the base64 of the key of the next page's first item. ok is false for a token
// that names no item.
func page[T any](items []T, key func(T) string, token string, max int) (out []T, next string, ok bool) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", false
		}
		start = -1
		for i, it := range items {
			if key(it) == string(raw) {
				start = i
				break
			}
		}
		if start < 0 {
			return nil, "", false
		}
	}
	end := min(start+max, len(items))
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end])))
	}
	return items[start:end], next, true
}

// limit returns n when it lies in [1, max], def when n is 0, and ok=false otherwise.
func limit(n, def, max int) (int, bool) {
	switch {
	case n == 0:
		return def, true
	case n < 1 || n > max:
		return 0, false
	}
	return n, true
}
