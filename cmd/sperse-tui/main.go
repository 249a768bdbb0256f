// Command sperse-tui is the interactive sperse workspace in the terminal:
// a live grid of cells, a REPL to define them, an inspector, the servers and
// a log of events.
//
// Usage:
//
//	sperse-tui [--server ADDR]... [--token TOKEN] [--client-cert FILE --client-key FILE]
//	           [--local N] [--load FILE] [--record FILE]
//	           [--theme NAME] [--state-dir DIR] [--config-dir DIR] [--log FILE]
//	sperse-tui --replay FILE [--speed X] [--theme NAME] [--config-dir DIR]
//
// With no --server, remote cells run on --local evaluation servers embedded
// in this process, reached over loopback QUIC like any other.
//
// Type a cell and press Enter: "a = remote 6 * 7", then "b = a + 1".
// Tab and Shift-Tab move between the panes (input, cells, inspector,
// servers, log); ? (or F1) shows every key; Ctrl-C cancels the selected
// cell's evaluation; Ctrl-D, or Ctrl-C twice, quits. Commands: :del NAME,
// :rerun NAME, :cancel [NAME], :load FILE, :save FILE, :theme NAME,
// :connect ADDR, :disconnect NAME, :servers, :log, :help, :quit,
// :record FILE, :record stop, :mark TEXT.
//
// --record FILE (or :record FILE at the prompt) records the session to a
// JSON Lines file as it happens: what is typed, every change of every
// cell, the servers joining and leaving, and the markers set with :mark.
// --replay FILE plays such a recording on the same screen, with no
// servers: space pauses, + and - change the speed, . and , step one event,
// ] and [ jump between markers, q quits (? lists every key).
//
// The history and the journal of the workspace are kept in the state
// directory: --state-dir, else $SPERSE_STATE_DIR, else $XDG_STATE_HOME/sperse,
// else ~/.local/state/sperse. After a run that did not end with :quit (a
// crash, a closed terminal), the next start restores the workspace from the
// journal. Themes: dark (the default; mono when $NO_COLOR is set), light,
// high-contrast, mono, or NAME.json in the themes directory of the config
// directory: --config-dir, else $SPERSE_CONFIG_DIR, else the user's config
// directory (os.UserConfigDir) + /sperse. The themes package documents the
// file's fields.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/themes"
	"github.com/sperse/sperse/tui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// config is the command line.
type config struct {
	ws        workspace.Options // --server, --token, --local
	load      string
	theme     string
	stateDir  string
	configDir string
	logFile   string
	record    string
	replay    string
	speed     float64
}

const usage = `usage: sperse-tui [--server ADDR]... [--token TOKEN] [--client-cert FILE --client-key FILE] [--local N] [--load FILE] [--record FILE] [--theme NAME] [--state-dir DIR] [--config-dir DIR] [--log FILE]
       sperse-tui --replay FILE [--speed X] [--theme NAME] [--config-dir DIR]`

// run runs sperse-tui with args and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sperse-tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.ws.AddFlags(fs, "")
	fs.StringVar(&cfg.load, "load", "", "a workspace `FILE` to load at start")
	fs.StringVar(&cfg.theme, "theme", "", "the theme: dark, light, high-contrast, mono or a custom one (default dark, mono if $NO_COLOR is set)")
	fs.StringVar(&cfg.stateDir, "state-dir", "", "where to keep the history and the journal (default $SPERSE_STATE_DIR, $XDG_STATE_HOME/sperse or ~/.local/state/sperse)")
	fs.StringVar(&cfg.configDir, "config-dir", "", "where custom themes are, in themes/NAME.json (default $SPERSE_CONFIG_DIR or the user's config dir + /sperse)")
	fs.StringVar(&cfg.logFile, "log", "", "append the client's and servers' logs to `FILE`")
	fs.StringVar(&cfg.record, "record", "", "record the session to `FILE` (JSON Lines; --replay plays it)")
	fs.StringVar(&cfg.replay, "replay", "", "play the recording `FILE` (no workspace runs, no server is needed)")
	fs.Float64Var(&cfg.speed, "speed", 1, fmt.Sprintf("with --replay: the speed of playback, from %g to %g", tui.MinSpeed, tui.MaxSpeed))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || !cfg.ws.Valid() {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if msg := cfg.check(fs); msg != "" {
		fmt.Fprintf(stderr, "sperse-tui: %s\n", msg)
		return 2
	}

	configDir := cmp.Or(cfg.configDir, os.Getenv("SPERSE_CONFIG_DIR"), userConfigDir())
	theme := themes.Default(os.Getenv("NO_COLOR") != "")
	if cfg.theme != "" {
		t, err := themes.Find(cfg.theme, themes.Dir(configDir))
		if err != nil {
			fmt.Fprintf(stderr, "sperse-tui: %v\n", err)
			return 2
		}
		theme = t
	}
	if cfg.replay != "" {
		return replay(ctx, cfg, theme, stderr)
	}
	stateDir := cmp.Or(cfg.stateDir, os.Getenv("SPERSE_STATE_DIR"), userStateDir())

	// The client tells when its servers change; a recording notes it.
	var model atomic.Pointer[tui.Model]
	ws, err := startWorkspace(ctx, cfg, func() {
		if m := model.Load(); m != nil {
			m.ServersChanged()
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "sperse-tui: %v\n", err)
		return 1
	}
	defer ws.Close()

	m := tui.New(tui.Options{
		Engine:   ws.Engine,
		Servers:  ws.Servers,
		Theme:    theme,
		ThemeDir: themes.Dir(configDir),
		StateDir: stateDir,
		Load:     cfg.load,
	})
	model.Store(m)
	if cfg.record != "" {
		w, h, _ := term.GetSize(os.Stdout.Fd()) // 0×0 when not a terminal
		if err := m.Record(cfg.record, w, h); err != nil {
			m.Close()
			fmt.Fprintf(stderr, "sperse-tui: %v\n", err)
			return 2
		}
	}
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err = p.Run()
	if cerr := m.Close(); cerr != nil {
		fmt.Fprintf(stderr, "sperse-tui: %v\n", cerr)
	}
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "sperse-tui: %v\n", err)
		return 1
	}
	return 0
}

// check returns what is wrong with the flags that go together, or "".
func (cfg *config) check(fs *flag.FlagSet) string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case cfg.replay == "" && set["speed"]:
		return "--speed goes with --replay"
	case cfg.replay != "" && (cfg.speed < tui.MinSpeed || cfg.speed > tui.MaxSpeed):
		return fmt.Sprintf("--speed %g: the speed is from %g to %g", cfg.speed, tui.MinSpeed, tui.MaxSpeed)
	case cfg.replay != "":
		for _, f := range []string{"record", "load", "server", "token", "client-cert", "client-key", "local", "state-dir", "log"} {
			if set[f] {
				return "--replay plays a recording with no workspace: --" + f + " does not go with it"
			}
		}
	case cfg.record != "" && cfg.load != "" && sameFile(cfg.record, cfg.load):
		return "--record " + cfg.record + " would overwrite the workspace loaded"
	}
	return ""
}

// sameFile reports whether the paths a and b name one existing file.
func sameFile(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}

// replay plays the recording cfg.replay. A recording that cannot be read
// at all is an error before the screen starts; one that breaks in the
// middle plays up to the broken line, shows the error, and prints it again
// on leaving.
func replay(ctx context.Context, cfg config, theme themes.Theme, stderr io.Writer) int {
	rec, readErr := record.Open(cfg.replay)
	if rec == nil {
		fmt.Fprintf(stderr, "sperse-tui: %v\n", readErr)
		return 2
	}
	m := tui.NewReplay(tui.ReplayOptions{Recording: rec, Err: readErr, Speed: cfg.speed, Theme: theme})
	_, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "sperse-tui: %v\n", err)
		return 1
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "sperse-tui: %v (the recording played up to there)\n", readErr)
		return 2
	}
	return 0
}

func userConfigDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "sperse")
}

// userStateDir is $XDG_STATE_HOME/sperse, or ~/.local/state/sperse.
func userStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "sperse")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "state", "sperse")
}
