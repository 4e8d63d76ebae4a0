package bots

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botstate/authz"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Drive reads packages from botdrive, for any organisation. It cannot list
// an org's bots: botauto loads a bot when it is first used and whenever
// botdrive reports one of its files changed.
type Drive struct {
	Client drivev1.DriveServiceClient
}

// Bots implements Source; botdrive is driven by its change events instead.
func (Drive) Bots(context.Context, string) ([]string, error) { return nil, nil }

// Files implements Source.
func (d Drive) Files(ctx context.Context, org, bot string) (map[string][]byte, error) {
	if !ValidName(bot) {
		return nil, ErrNotFound
	}
	ctx = authz.ForOrg(ctx, org)
	out := map[string][]byte{}
	for _, dir := range []string{bot + ".gbdialog/", bot + ".gbot/"} {
		token := ""
		for {
			resp, err := d.Client.ListFiles(ctx, &drivev1.ListFilesRequest{Bot: bot, Prefix: dir, PageSize: 1000, PageToken: token})
			if status.Code(err) == codes.NotFound {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("botdrive: list %s: %w", dir, err)
			}
			for _, f := range resp.Files {
				if !Relevant(bot, f.Path) {
					continue
				}
				if len(out) >= MaxScripts+2 {
					return nil, fmt.Errorf("package %s has more than %d scripts", bot, MaxScripts)
				}
				if f.Size > MaxScriptBytes {
					out[f.Path] = make([]byte, MaxScriptBytes+1) // Build reports it as too large
					continue
				}
				got, err := d.Client.GetFile(ctx, &drivev1.GetFileRequest{Bot: bot, Path: f.Path})
				if status.Code(err) == codes.NotFound {
					continue // removed between list and get
				}
				if err != nil {
					return nil, fmt.Errorf("botdrive: get %s: %w", f.Path, err)
				}
				out[f.Path] = got.Content
			}
			if token = resp.NextPageToken; token == "" {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}
