package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// secretTypeURL is the type of SDS resources.
const secretTypeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// The secrets gatemesh's stamped Upstreams and Backends ask sds for.
const (
	serverCertSecret        = "istio_server_cert"
	validationContextSecret = "istio_validation_context"
)

// push is one secret sds sent, or the error that ended the stream.
type push struct {
	version string
	secret  *tlsv3.Secret
	err     error
}

// watchSecret subscribes to one secret as Envoy does for each
// sds_secret_config: its own StreamSecrets stream, a first request with the
// node and the resource name, and an ACK (the response's version and nonce)
// after every response, which asks for the next change. Pushes arrive on the
// returned channel until ctx ends or the stream breaks (a last push with
// err).
func watchSecret(ctx context.Context, conn *grpc.ClientConn, nodeID, name string) (<-chan push, error) {
	stream, err := secretv3.NewSecretDiscoveryServiceClient(conn).StreamSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to open an SDS stream for %s: %w", name, err)
	}
	req := &discoveryv3.DiscoveryRequest{
		Node:          &corev3.Node{Id: nodeID, Cluster: "gateway-proxy"},
		ResourceNames: []string{name},
		TypeUrl:       secretTypeURL,
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("failed to request %s: %w", name, err)
	}
	out := make(chan push, 64)
	go func() {
		defer close(out)
		for {
			resp, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					out <- push{err: fmt.Errorf("SDS stream for %s broke: %w", name, err)}
				}
				return
			}
			for _, res := range resp.GetResources() {
				s := &tlsv3.Secret{}
				if err := res.UnmarshalTo(s); err != nil {
					out <- push{err: fmt.Errorf("failed to decode a pushed %s: %w", name, err)}
					return
				}
				if s.GetName() == name {
					out <- push{version: resp.GetVersionInfo(), secret: s}
				}
			}
			ack := &discoveryv3.DiscoveryRequest{
				Node:          req.Node,
				VersionInfo:   resp.GetVersionInfo(),
				ResponseNonce: resp.GetNonce(),
				ResourceNames: []string{name},
				TypeUrl:       secretTypeURL,
			}
			if err := stream.Send(ack); err != nil {
				if ctx.Err() == nil {
					out <- push{err: fmt.Errorf("failed to ACK %s: %w", name, err)}
				}
				return
			}
		}
	}()
	return out, nil
}

// dialSDS connects, without TLS, to sds as the gateway's Envoy does
// (127.0.0.1:8234, a static cluster in its bootstrap).
func dialSDS(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("failed to create an SDS client for %s: %w", addr, err)
	}
	return conn, nil
}

// secretMaterial is what a pushed secret carries, inline as both servers
// send it.
func serverCertMaterial(s *tlsv3.Secret) (chain, key []byte, err error) {
	tc := s.GetTlsCertificate()
	if tc == nil {
		return nil, nil, fmt.Errorf("%s is not a TLS certificate secret", s.GetName())
	}
	chain, key = tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes()
	if len(chain) == 0 || len(key) == 0 {
		return nil, nil, fmt.Errorf("%s has no inline certificate chain or private key", s.GetName())
	}
	return chain, key, nil
}

func validationMaterial(s *tlsv3.Secret) ([]byte, error) {
	ca := s.GetValidationContext().GetTrustedCa().GetInlineBytes()
	if len(ca) == 0 {
		return nil, fmt.Errorf("%s has no inline trusted CA", s.GetName())
	}
	return ca, nil
}
