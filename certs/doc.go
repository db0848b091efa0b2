// Package certs provides the webhook server's serving certificate, from one
// of three sources, each a Source:
//
//   - Files reads tls.crt and tls.key from a directory and reloads them when
//     they change (controller-runtime's certwatcher). The files can come from
//     anywhere: a mounted Secret, a sidecar, a developer's disk.
//   - CertManager is Files for a directory cert-manager fills: it also reads
//     the cert-manager Certificate and is not ready until that Certificate is
//     Ready and the files are there.
//   - Self generates a CA and a serving certificate (ECDSA P-256), keeps them
//     in one Secret shared by every replica, patches the CA into the
//     MutatingWebhookConfiguration's webhooks, and renews the serving
//     certificate when 2/3 of its lifetime has passed, all without a restart.
//
// The webhook server takes the certificate through Source.GetCertificate, so
// a new certificate is used from the next TLS handshake on.
package certs
