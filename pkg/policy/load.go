package policy

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Parse decodes a policy file strictly: unknown or duplicated fields are an
// error. It does not default or validate; see Load.
func Parse(data []byte) (Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("failed to decode policy: %w", err)
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
