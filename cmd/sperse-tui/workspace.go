package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/tui"
)

// tuiWorkspace is what the user interface runs on.
type tuiWorkspace struct {
	Engine  *reactive.Engine
	Servers tui.Servers
	Close   func()
}

// startWorkspace wires the engine and the remote client (connected to the
// servers of cfg, or to embedded ones) with cmd/internal/workspace. It is
// the one place that knows how servers are made. onServers is called, from
// the client's goroutine, each time the servers may have changed.
func startWorkspace(ctx context.Context, cfg config, onServers func()) (*tuiWorkspace, error) {
	logger := slog.New(slog.DiscardHandler)
	var logFile *os.File
	if cfg.logFile != "" {
		f, err := os.OpenFile(cfg.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("--log: %w", err)
		}
		logFile = f
		logger = slog.New(slog.NewTextHandler(f, nil))
	}
	opts := cfg.ws
	opts.Logger = logger
	opts.OnServers = func([]remote.ServerInfo) { onServers() }
	ws, err := workspace.Start(ctx, opts)
	if err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, err
	}
	return &tuiWorkspace{
		Engine:  ws.Engine,
		Servers: ws.Client,
		Close: func() {
			ws.Close()
			if logFile != nil {
				logFile.Close()
			}
		},
	}, nil
}
