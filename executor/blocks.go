package executor

import (
	"context"
	"errors"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/coordinator"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/shuffle"
)

// The shuffle's served placement: an executor keeps map outputs on its
// disk (shuffle.LocalBlocks) and serves them to reducers on other
// executors through the Executor service's FetchShuffleBlock stream, on
// its own address, behind the cluster's mutual TLS.

const chunkSize = 256 << 10

// blockServer is the executor's block-serving gRPC service.
type blockServer struct {
	czpb.UnimplementedExecutorServer
	blocks shuffle.BlockServer
}

func (s blockServer) FetchShuffleBlock(req *czpb.BlockRequest, stream czpb.Executor_FetchShuffleBlockServer) error {
	rc, err := s.blocks.OpenSegment(stream.Context(), req.Block, int(req.Reduce))
	if err != nil {
		if errors.Is(err, shuffle.ErrBlockNotFound) {
			return status.Error(codes.NotFound, err.Error())
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	defer rc.Close()
	buf := make([]byte, chunkSize)
	for {
		n, err := io.ReadFull(rc, buf)
		if n > 0 {
			if serr := stream.Send(&czpb.BlockChunk{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
}

// ServeBlocks serves blocks on ln (mutual TLS unless sec is insecure)
// until the returned stop is called.
func ServeBlocks(ln net.Listener, blocks shuffle.BlockServer, sec coordinator.Security) (stop func(), err error) {
	var opts []grpc.ServerOption
	if !sec.Insecure {
		c, err := sec.ServerTLS(true)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(c)))
	}
	s := grpc.NewServer(opts...)
	czpb.RegisterExecutorServer(s, blockServer{blocks: blocks})
	go s.Serve(ln)
	return s.Stop, nil
}

// BlockDialer returns the shuffle dialer of "grpc://host:port" block
// servers: register it with shuffle.RegisterDialer("grpc", ...).
func BlockDialer(sec coordinator.Security) func(addr string) (shuffle.BlockServer, error) {
	return func(addr string) (shuffle.BlockServer, error) {
		opts, err := sec.DialOptions()
		if err != nil {
			return nil, err
		}
		target := addr
		if _, rest, ok := cutScheme(addr); ok {
			target = rest
		}
		conn, err := grpc.NewClient(target, opts...)
		if err != nil {
			return nil, err
		}
		return remoteBlocks{c: czpb.NewExecutorClient(conn), conn: conn}, nil
	}
}

func cutScheme(addr string) (string, string, bool) {
	for i := 0; i+2 < len(addr); i++ {
		if addr[i:i+3] == "://" {
			return addr[:i], addr[i+3:], true
		}
	}
	return "", addr, false
}

// remoteBlocks is a BlockServer on another executor.
type remoteBlocks struct {
	c    czpb.ExecutorClient
	conn *grpc.ClientConn
}

func (r remoteBlocks) OpenSegment(ctx context.Context, block string, reduce int) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := r.c.FetchShuffleBlock(ctx, &czpb.BlockRequest{Block: block, Reduce: int32(reduce)})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := s.Recv()
	if err != nil && err != io.EOF {
		cancel()
		if status.Code(err) == codes.NotFound {
			return nil, errors.Join(shuffle.ErrBlockNotFound, err)
		}
		return nil, err
	}
	rd := &chunkReader{s: s, cancel: cancel}
	if first != nil {
		rd.buf = first.Data
	} else {
		rd.eof = true
	}
	return rd, nil
}

// chunkReader reads a FetchShuffleBlock stream.
type chunkReader struct {
	s      czpb.Executor_FetchShuffleBlockClient
	cancel context.CancelFunc
	buf    []byte
	eof    bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		m, err := c.s.Recv()
		if err == io.EOF {
			c.eof = true
			continue
		}
		if err != nil {
			return 0, err
		}
		c.buf = m.Data
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *chunkReader) Close() error {
	c.cancel()
	return nil
}
