package ingest

import (
	"context"

	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botstate/authz"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Extracted is a document's text as botdrive extracted it.
type Extracted struct {
	Text      string
	Hash      string // of the content the text came from
	Truncated bool
}

// Extractor fetches the plain text of a package file.
type Extractor interface {
	ExtractText(ctx context.Context, orgID, bot, path string) (Extracted, error)
}

// DriveExtractor calls botdrive's ExtractText.
type DriveExtractor struct {
	conn func() (grpc.ClientConnInterface, error)
}

// NewDriveExtractor returns an Extractor over a connection to botdrive,
// asked for at each call: botdrive may be unreachable at start, and an
// attempt made meanwhile fails (and is retried) rather than the service.
func NewDriveExtractor(conn func() (grpc.ClientConnInterface, error)) *DriveExtractor {
	return &DriveExtractor{conn: conn}
}

// ExtractText implements Extractor.
func (d *DriveExtractor) ExtractText(ctx context.Context, orgID, bot, path string) (Extracted, error) {
	cc, err := d.conn()
	if err != nil {
		return Extracted{}, err
	}
	// The connection's interceptor adds this service's token and the org
	// (bot-org-id): botdrive then acts in the event's org.
	ctx = authz.ForOrg(ctx, orgID)
	resp, err := drivev1.NewDriveServiceClient(cc).ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: bot, Path: path})
	if err != nil {
		return Extracted{}, err
	}
	return Extracted{Text: resp.GetText(), Hash: resp.GetHash(), Truncated: resp.GetTruncated()}, nil
}
