package mutate

import (
	"fmt"
	"strconv"
	"strings"
)

// Readers for the few fields of an unstructured object that gatemesh looks
// at. Each returns an error naming the field when the object has the wrong
// JSON type there; a missing or null field is absent, not an error. The
// object is never modified.

func lookup(obj map[string]any, path ...string) (any, bool, error) {
	var cur any = obj
	for i, key := range path {
		if cur == nil {
			return nil, false, nil
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s must be an object, not %s", fieldPath(path[:i]), jsonType(cur))
		}
		if cur, ok = m[key]; !ok {
			return nil, false, nil
		}
	}
	return cur, cur != nil, nil
}

func lookupObject(obj map[string]any, path ...string) (map[string]any, bool, error) {
	v, ok, err := lookup(obj, path...)
	if !ok || err != nil {
		return nil, false, err
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, false, fmt.Errorf("%s must be an object, not %s", fieldPath(path), jsonType(v))
	}
	return m, true, nil
}

func lookupString(obj map[string]any, path ...string) (string, bool, error) {
	v, ok, err := lookup(obj, path...)
	if !ok || err != nil {
		return "", false, err
	}
	s, isString := v.(string)
	if !isString {
		return "", false, fmt.Errorf("%s must be a string, not %s", fieldPath(path), jsonType(v))
	}
	return s, true, nil
}

func lookupBool(obj map[string]any, path ...string) (bool, error) {
	v, ok, err := lookup(obj, path...)
	if !ok || err != nil {
		return false, err
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("%s must be a boolean, not %s", fieldPath(path), jsonType(v))
	}
	return b, nil
}

// lookupHosts returns key of every entry of the list at path, such as addr
// of spec.static.hosts[*].
func lookupHosts(obj map[string]any, key string, path ...string) ([]string, error) {
	v, ok, err := lookup(obj, path...)
	if !ok || err != nil {
		return nil, err
	}
	list, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("%s must be a list, not %s", fieldPath(path), jsonType(v))
	}
	hosts := make([]string, 0, len(list))
	for i, item := range list {
		entry, isMap := item.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s[%d] must be an object, not %s", fieldPath(path), i, jsonType(item))
		}
		h, _, err := lookupString(entry, key)
		if err != nil {
			return nil, fmt.Errorf("%s[%d].%w", fieldPath(path), i, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// lookupAnnotations returns metadata.annotations, checking that every value
// is a string.
func lookupAnnotations(obj map[string]any) (map[string]string, error) {
	m, ok, err := lookupObject(obj, "metadata", "annotations")
	if !ok || err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, isString := v.(string)
		if !isString {
			return nil, fmt.Errorf("metadata.annotations[%s] must be a string, not %s", strconv.Quote(k), jsonType(v))
		}
		out[k] = s
	}
	return out, nil
}

// ensureObject returns the object at path in obj, creating it, and any
// missing or null object on the way, when absent. The path must have been
// checked with lookup.
func ensureObject(obj map[string]any, path ...string) map[string]any {
	cur := obj
	for _, key := range path {
		next, ok := cur[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[key] = next
		}
		cur = next
	}
	return cur
}

func fieldPath(path []string) string {
	if len(path) == 0 {
		return "the object"
	}
	return strings.Join(path, ".")
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64, int, int32, float32:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
