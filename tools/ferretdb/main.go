// Command ferretdb runs an embedded FerretDB v1 (SQLite backend) on a loopback port for
// the test harness, the demo and the benchmark.
//
// We build this instead of `go install .../cmd/ferretdb`, whose binary panics at start
// because the published module lacks build/version/version.txt. For the same reason an
// embedded FerretDB reports its version as "unknown"; setVersion puts the real one back.
//
// It prints one line, "READY <mongodb uri> <data dir>", on stdout once it accepts connections. It
// stops, and removes the data directory it created, on SIGINT or SIGTERM or when its
// stdin reaches EOF: the parent holds stdin open, so a parent that dies (even by
// SIGKILL) never leaves a server or a temp dir behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

// ferretdbModule is the module whose version buildInfo should report as ferretdbVersion.
const ferretdbModule = "github.com/FerretDB/FerretDB"

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on; port 0 picks a free one")
	dir := flag.String("dir", "", "existing directory for SQLite files; default: a new temp dir, removed on exit")
	watchStdin := flag.Bool("watch-stdin", true, "exit when stdin reaches EOF")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	sqliteParams := flag.String("sqlite-params", "_pragma=synchronous(normal)&_txlock=immediate",
		"query parameters for the SQLite URI; the default skips an fsync per commit (fine for throwaway test data) and takes the write lock at BEGIN, so concurrent writers wait for it instead of failing with SQLITE_BUSY")
	flag.Parse()

	setVersion()

	if err := run(*listen, *dir, *watchStdin, *logLevel, *sqliteParams); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb helper:", err)
		os.Exit(1)
	}
}

func run(listen, dir string, watchStdin bool, logLevel, sqliteParams string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if dir == "" {
		tmp, err := os.MkdirTemp("", "cms-ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	// Stdin EOF cancels the parent context. It must not call the NotifyContext's stop: that
	// would unregister the signal handler, and a SIGTERM arriving during shutdown would then
	// kill the process before the deferred RemoveAll runs.
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?" + sqliteParams,
	})
	if err != nil {
		return err
	}

	// The directory goes along, so a parent can remove it even if this process crashes.
	fmt.Printf("READY %s %s\n", f.MongoDBURI(), dir)

	return f.Run(ctx)
}

// setVersion sets the version FerretDB reports (buildInfo's ferretdbVersion, serverStatus)
// to the version of the FerretDB module this binary was built with, as go.mod pins it.
// FerretDB reads version.Get() on every request, and its own embedding code sets fields
// of it the same way (Package = "embedded").
func setVersion() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, dep := range info.Deps {
		if dep.Path == ferretdbModule {
			version.Get().Version = dep.Version
			return
		}
	}
}
