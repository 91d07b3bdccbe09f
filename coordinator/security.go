package coordinator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Security is how a cluster member proves itself: one certificate signed
// by the cluster CA, used both as server and as client (coordinators to
// each other over Raft and gRPC, executors to coordinators), and the
// bearer token that clients of the Client service present. A zero
// Security with Insecure set turns both off (tests of the embedded mode
// only); anything else without certificates is refused.
type Security struct {
	CAFile, CertFile, KeyFile string
	// Token is the bearer token the Client service requires ("" with TLS
	// on means the Client service needs no token).
	Token    string
	Insecure bool
}

// Files returns the Security of a directory made by GenerateCerts.
func Files(dir, token string) Security {
	return Security{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "node.pem"),
		KeyFile: filepath.Join(dir, "node-key.pem"), Token: token}
}

// CheckMember checks what a cluster member (coordinator or executor)
// needs: its certificate, unless insecure.
func (s Security) CheckMember() error {
	if s.Insecure {
		return nil
	}
	if s.CAFile == "" || s.CertFile == "" || s.KeyFile == "" {
		return fmt.Errorf("mutual TLS needs --ca, --cert and --key (make them with `cz certs`), or --insecure")
	}
	return nil
}

// check is what a coordinator needs: a member's certificate and the
// clients' token.
func (s Security) check() error {
	if err := s.CheckMember(); err != nil {
		return err
	}
	if !s.Insecure && s.Token == "" {
		return fmt.Errorf("the Client API needs a bearer token (--token or CZ_TOKEN), or --insecure")
	}
	return nil
}

func (s Security) load() (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return cert, nil, fmt.Errorf("load certificate: %w", err)
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return cert, nil, fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return cert, nil, fmt.Errorf("%s: no PEM certificate", s.CAFile)
	}
	return cert, pool, nil
}

// ServerTLS is the TLS config of a server: client certificates are
// verified when given and required by the Executor service and Raft.
func (s Security) ServerTLS(requireClientCert bool) (*tls.Config, error) {
	cert, pool, err := s.load()
	if err != nil {
		return nil, err
	}
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: auth, MinVersion: tls.VersionTLS13}, nil
}

// ClientTLS is the TLS config of a member dialling another: it shows its
// certificate when it has one and checks the server's against the CA.
func (s Security) ClientTLS() (*tls.Config, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", s.CAFile)
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// DialOptions are the gRPC options to reach a coordinator.
func (s Security) DialOptions() ([]grpc.DialOption, error) {
	if s.Insecure {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer{token: s.Token, insecure: true}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage))}, nil
	}
	c, err := s.ClientTLS()
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c)),
		grpc.WithPerRPCCredentials(bearer{token: s.Token}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage))}, nil
}

type bearer struct {
	token    string
	insecure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b.token == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return !b.insecure }

// authorize checks a call: the Client service wants the token, the
// Executor service a verified client certificate.
func (s Security) authorize(ctx context.Context, method string) error {
	if s.Insecure {
		return nil
	}
	if strings.HasPrefix(method, "/cz.v1.Executor/") {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return status.Error(codes.Unauthenticated, "no peer")
		}
		ti, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok || len(ti.State.VerifiedChains) == 0 {
			return status.Error(codes.Unauthenticated, "the Executor service needs the cluster's client certificate")
		}
		return nil
	}
	if s.Token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if subtle.ConstantTimeCompare([]byte(v), []byte("Bearer "+s.Token)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or wrong bearer token")
}

func (s Security) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s Security) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// GenerateCerts writes a cluster CA (ca.pem, ca-key.pem) and one member
// certificate signed by it (node.pem, node-key.pem) into dir, valid for
// hosts (names and IPs) as server and as client, for validity.
func GenerateCerts(dir string, hosts []string, validity time.Duration) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "cz cluster CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	node := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "cz node"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			node.IPAddresses = append(node.IPAddresses, ip)
		} else if h != "" {
			node.DNSNames = append(node.DNSNames, h)
		}
	}
	nodeDER, err := x509.CreateCertificate(rand.Reader, node, ca, &nodeKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	write := func(name, typ string, der []byte, mode os.FileMode) error {
		return os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return err
	}
	nodeKeyDER, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
		mode      os.FileMode
	}{
		{"ca.pem", "CERTIFICATE", caDER, 0o644}, {"ca-key.pem", "EC PRIVATE KEY", caKeyDER, 0o600},
		{"node.pem", "CERTIFICATE", nodeDER, 0o644}, {"node-key.pem", "EC PRIVATE KEY", nodeKeyDER, 0o600},
	} {
		if err := write(f.name, f.typ, f.der, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

// tlsStream is Raft's stream layer over mutual TLS.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
	// local is the address Raft's dials leave from: the bind IP when it
	// is a specific one, so that peers and firewalls see one address per
	// member; nil lets the kernel choose.
	local *net.TCPAddr
}

func newTLSStream(bind string, advertise net.Addr, sec Security) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	t := &tlsStream{Listener: ln, advertise: advertise, local: dialFrom(bind)}
	if sec.Insecure {
		return t, nil
	}
	srv, err := sec.ServerTLS(true)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if t.client, err = sec.ClientTLS(); err != nil {
		ln.Close()
		return nil, err
	}
	t.Listener = tls.NewListener(ln, srv)
	return t, nil
}

// dialFrom is the local address of dials for a listener bound to bind:
// its IP when that is a specific one (not empty, 0.0.0.0 or ::), with any
// port.
func dialFrom(bind string) *net.TCPAddr {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

func (t *tlsStream) Addr() net.Addr { return t.advertise }

func (t *tlsStream) Dial(address raftAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if t.local != nil {
		d.LocalAddr = t.local
	}
	if t.client == nil {
		return d.Dial("tcp", string(address))
	}
	c := t.client.Clone()
	if host, _, err := net.SplitHostPort(string(address)); err == nil {
		c.ServerName = host
	}
	return tls.DialWithDialer(d, "tcp", string(address), c)
}
