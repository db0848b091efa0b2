package main

import (
	"crypto/x509"
	"os"
	"time"

	"github.com/gatemesh/gatemesh/certs"
)

// writeCert writes a throwaway serving certificate for 127.0.0.1 into a new
// directory, and returns a pool trusting its CA.
func writeCert() (string, *x509.CertPool, error) {
	files, err := certs.NewServingFiles([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "gatemesh-load-")
	if err != nil {
		return "", nil, err
	}
	if err := files.Write(dir); err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CA)
	return dir, pool, nil
}
