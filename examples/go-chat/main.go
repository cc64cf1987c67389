// Command go-chat is a terminal chat client built on Parley's native Go
// driver: the same API a bot or a load generator uses.
//
//	go run ./examples/go-chat --user alice --to bob
//
// Lines typed are sent to the peer; messages arriving in any conversation are
// printed. The cache lives in a SQLite file, so messages typed while the relay
// is down are sent when it comes back, even after a restart of this program.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8787/v1/ws", "relay WebSocket URL")
	user := flag.String("user", "", "who you are (required)")
	to := flag.String("to", "", "who to talk to (required)")
	tok := flag.String("token", os.Getenv("PARLEY_TOKEN"), "JWT; defaults to one minted by bin/parley-relay token for the local demo relay")
	dir := flag.String("cache", filepath.Join(os.TempDir(), "parley-go-chat"), "folder for the local cache")
	flag.Parse()
	if *user == "" || *to == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *tok == "" {
		// Development only: ask the local relay binary to mint a token with
		// the demo relay's secret. A real app gets tokens from its server.
		out, err := exec.Command("bin/parley-relay", "token", "--user", *user).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-chat: no --token, and `bin/parley-relay token` failed (run ./build.sh demo first):", err)
			os.Exit(1)
		}
		*tok = strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	store, err := client.OpenSQLiteStore(filepath.Join(*dir, *user+".db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := client.New(client.Options{URL: *url, Token: *tok, Store: store})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	c.On(func(e core.Event) {
		switch e.Kind {
		case core.EventState:
			fmt.Printf("· %s %s\n", e.State, e.Reason)
		case core.EventMessage:
			if e.Message.Sender != *user {
				fmt.Printf("[%s] %s: %s\n", time.UnixMilli(e.Message.CreatedAt).Format("15:04:05"), e.Message.Sender, e.Message.Text)
			}
		case core.EventMessageUpdate:
			if e.Message.Status == core.StatusFailed {
				fmt.Printf("! not sent (%d): %s\n", e.Message.ErrorCode, e.Message.Text)
			}
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := c.Connect(cctx); err != nil {
		fmt.Fprintln(os.Stderr, "go-chat: not connected yet, typing still works offline:", err)
	}
	cancel()
	conv := proto.P2PID(*user, *to)
	if msgs, err := c.Messages(ctx, conv, 0, 20); err == nil {
		for _, m := range msgs {
			fmt.Printf("[%s] %s: %s (%s)\n", time.UnixMilli(m.CreatedAt).Format("15:04:05"), m.Sender, m.Text, m.Status)
		}
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if _, _, err := c.SendAsync(conv, "text", line, nil); err != nil {
				fmt.Println("!", err)
			}
			_ = c.MarkRead(ctx, conv, 0)
		}
	}
}
