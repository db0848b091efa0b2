package policy

import (
	"errors"
	"fmt"
	"os"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Parse decodes a policy file (YAML or JSON) strictly: field names match
// case-sensitively, and unknown or duplicated fields are an error. It does not default or validate; see Load.
func Parse(data []byte) (Config, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Config{}, fmt.Errorf("failed to decode policy: %w", err)
	}
	var c Config
	strictErrs, err := kjson.UnmarshalStrict(js, &c, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return Config{}, fmt.Errorf("failed to decode policy: %w", err)
	}
	if len(strictErrs) > 0 {
		return Config{}, fmt.Errorf("failed to decode policy: %w", errors.Join(strictErrs...))
	}
	return c, nil
}

// ReadFile parses the policy file at path. An empty path yields an empty
// Config, so that the defaults apply.
func ReadFile(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("failed to read policy file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
