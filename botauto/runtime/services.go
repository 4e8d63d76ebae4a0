package runtime

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botstate/authz"
	contactsv1 "github.com/botserver-go/botserver-go/proto/bot/contacts/v1"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// Services are the other platform services scripts reach, over gRPC. A nil
// client means the service is not deployed: its keywords say so.
type Services struct {
	LLM      llmv1.LlmServiceClient
	KB       vectordbv1.VectordbServiceClient
	Drive    drivev1.DriveServiceClient
	Mail     mailv1.MailServiceClient
	Tasks    tasksv1.TasksServiceClient
	Contacts contactsv1.ContactsServiceClient
}

// call runs a keyword of another service for the turn's organisation.
func (s *Services) call(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	ctx = authz.ForOrg(ctx, t.Org)
	var (
		v   vm.Value
		err error
	)
	switch c.Service {
	case "llm":
		if s == nil || s.LLM == nil {
			return vm.Null, errors.New("botllm is not available")
		}
		v, err = s.llm(ctx, t, c)
	case "kb":
		if s == nil || s.KB == nil {
			return vm.Null, errors.New("botvectordb is not available")
		}
		v, err = s.kb(ctx, t, c)
	case "drive":
		if s == nil || s.Drive == nil {
			return vm.Null, errors.New("botdrive is not available")
		}
		v, err = s.drive(ctx, t, c)
	case "mail":
		if s == nil || s.Mail == nil {
			return vm.Null, errors.New("botmail is not available")
		}
		v, err = s.mail(ctx, t, c)
	case "tasks":
		if s == nil || s.Tasks == nil {
			return vm.Null, errors.New("bottasks is not available")
		}
		v, err = s.task(ctx, t, c)
	case "calendar":
		if s == nil || s.Contacts == nil {
			return vm.Null, errors.New("botcontacts is not available")
		}
		v, err = s.book(ctx, t, c)
	default:
		return vm.Null, fmt.Errorf("%s is not available", serviceName(c.Service))
	}
	if st, ok := status.FromError(err); ok && err != nil {
		// Unimplemented: the service is deployed but its API has not landed.
		if st.Code() == codes.Unavailable || st.Code() == codes.Unimplemented {
			return vm.Null, fmt.Errorf("%s is not available", serviceName(c.Service))
		}
		return vm.Null, errors.New(st.Message()) // the service's words, without the gRPC wrapping
	}
	return v, err
}

func (s *Services) llm(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	text := c.Args[0].String()
	var prompt, system string
	switch c.Keyword {
	case "LLM":
		prompt, system = text, t.Prompt
	case "SUMMARIZE":
		system, prompt = "Summarise the user's text in a few sentences, in its language. Answer with the summary only.", text
	case "TRANSLATE":
		system = fmt.Sprintf("Translate the user's text to %s. Answer with the translation only.", c.Args[1].String())
		prompt = text
	case "CLASSIFY":
		labels := labelsOf(c.Args[1])
		if len(labels) == 0 {
			return vm.Null, errors.New("CLASSIFY needs labels")
		}
		system = "Classify the user's text. Answer with exactly one of these labels and nothing else: " + strings.Join(labels, ", ")
		prompt = text
		resp, err := s.LLM.Complete(ctx, &llmv1.CompleteRequest{Bot: t.Bot, Prompt: prompt, System: system, Config: t.Config})
		if err != nil {
			return vm.Null, err
		}
		return vm.Str(pickLabel(resp.Content, labels)), nil
	case "SENTIMENT":
		labels := []string{"positive", "neutral", "negative"}
		resp, err := s.LLM.Complete(ctx, &llmv1.CompleteRequest{Bot: t.Bot, Prompt: text, Config: t.Config,
			System: "Say whether the user's text is positive, neutral or negative. Answer with one word."})
		if err != nil {
			return vm.Null, err
		}
		return vm.Str(pickLabel(resp.Content, labels)), nil
	default:
		return vm.Null, fmt.Errorf("%s is not an LLM keyword", c.Keyword)
	}
	resp, err := s.LLM.Complete(ctx, &llmv1.CompleteRequest{Bot: t.Bot, Prompt: prompt, System: system, Config: t.Config})
	if err != nil {
		return vm.Null, err
	}
	return vm.Str(resp.Content), nil
}

func labelsOf(v vm.Value) []string {
	var out []string
	if v.Kind() == vm.ArrayKind {
		for _, x := range v.Array().Items {
			if s := strings.TrimSpace(x.String()); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	for _, s := range strings.Split(v.String(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// pickLabel maps a model's answer onto one of the labels (models add
// punctuation and case); the raw answer when none matches.
func pickLabel(answer string, labels []string) string {
	a := strings.ToLower(strings.Trim(strings.TrimSpace(answer), ".!\"' "))
	for _, l := range labels {
		if a == strings.ToLower(l) {
			return l
		}
	}
	for _, l := range labels {
		if strings.Contains(a, strings.ToLower(l)) {
			return l
		}
	}
	return strings.TrimSpace(answer)
}

// kb runs THINK KB over all the bot's knowledge bases (the conversation's
// active ones are botchat's; a script names what it wants in the query):
// passages as objects {text, source, kb, score}.
func (s *Services) kb(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	resp, err := s.KB.Search(ctx, &vectordbv1.SearchRequest{Bot: t.Bot, Query: c.Args[0].String()})
	if err != nil {
		return vm.Null, err
	}
	items := make([]vm.Value, len(resp.Passages))
	for i, p := range resp.Passages {
		o := vm.NewObject()
		o.Object().Set("text", vm.Str(p.Text))
		o.Object().Set("source", vm.Str(p.Path))
		o.Object().Set("kb", vm.Str(p.Kb))
		o.Object().Set("score", vm.Num(float64(p.Score)))
		items[i] = o
	}
	return vm.NewArray(items...), nil
}

// drivePath maps a script's path into the bot's <bot>.gbdrive folder.
func drivePath(bot, p string) (string, error) {
	p = strings.TrimSpace(strings.ReplaceAll(p, "\\", "/"))
	clean := path.Clean("/" + p)
	if p == "" || strings.Contains(p, "..") || clean == "/" {
		return "", fmt.Errorf("drive path %q: use a path inside the bot's drive, like \"reports/today.txt\"", p)
	}
	return bot + ".gbdrive" + clean, nil
}

func (s *Services) drive(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	p, err := drivePath(t.Bot, c.Args[0].String())
	if err != nil {
		return vm.Null, err
	}
	switch c.Keyword {
	case "READ":
		resp, err := s.Drive.ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: t.Bot, Path: p})
		if err != nil {
			return vm.Null, err
		}
		return vm.Str(resp.Text), nil
	case "WRITE":
		data := c.Args[1]
		content := data.String()
		if k := data.Kind(); k == vm.ObjectKind || k == vm.ArrayKind {
			if content, err = jsonOf(data); err != nil {
				return vm.Null, err
			}
		}
		_, err := s.Drive.PutFile(ctx, &drivev1.PutFileRequest{Bot: t.Bot, Path: p, Content: []byte(content)})
		return vm.Null, err
	case "LIST":
		prefix := strings.TrimSuffix(p, "/") + "/"
		resp, err := s.Drive.ListFiles(ctx, &drivev1.ListFilesRequest{Bot: t.Bot, Prefix: prefix, PageSize: 1000})
		if err != nil {
			return vm.Null, err
		}
		items := make([]vm.Value, len(resp.Files))
		for i, f := range resp.Files {
			items[i] = vm.Str(strings.TrimPrefix(f.Path, prefix))
		}
		return vm.NewArray(items...), nil
	case "COPY", "MOVE":
		to, err := drivePath(t.Bot, c.Args[1].String())
		if err != nil {
			return vm.Null, err
		}
		if c.Keyword == "COPY" {
			_, err = s.Drive.CopyFile(ctx, &drivev1.CopyFileRequest{Bot: t.Bot, Path: p, ToPath: to})
		} else {
			_, err = s.Drive.MoveFile(ctx, &drivev1.MoveFileRequest{Bot: t.Bot, Path: p, ToPath: to})
		}
		return vm.Null, err
	case "DELETE FILE":
		_, err := s.Drive.DeleteFile(ctx, &drivev1.DeleteFileRequest{Bot: t.Bot, Path: p})
		return vm.Null, err
	}
	return vm.Null, fmt.Errorf("%s is not a drive keyword", c.Keyword)
}

// recipients reads a recipient argument: an array or a comma/semicolon list.
func recipients(v vm.Value) []string {
	var out []string
	add := func(s string) {
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	if v.Kind() == vm.ArrayKind {
		for _, x := range v.Array().Items {
			add(x.String())
		}
		return out
	}
	add(v.String())
	return out
}

func (s *Services) mail(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	to := recipients(c.Args[0])
	if len(to) == 0 {
		return vm.Null, fmt.Errorf("%s needs a recipient", c.Keyword)
	}
	switch c.Keyword {
	case "SEND MAIL", "BEGIN MAIL":
		req := &mailv1.SendMailRequest{Bot: t.Bot, To: to}
		if c.Keyword == "BEGIN MAIL" {
			// BEGIN MAIL's block: the first line is the subject.
			subject, body, _ := strings.Cut(c.Args[1].String(), "\n")
			req.Subject, req.Body = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(subject), "Subject:")), body
		} else {
			req.Subject, req.Body = c.Args[1].String(), c.Args[2].String()
		}
		if len(c.Args) > 3 {
			for _, a := range recipients(c.Args[3]) {
				p, err := drivePath(t.Bot, a)
				if err != nil {
					return vm.Null, err
				}
				req.Attachments = append(req.Attachments, p)
			}
		}
		resp, err := s.Mail.SendMail(ctx, req)
		if err != nil {
			return vm.Null, err
		}
		return vm.Str(resp.MessageId), nil
	case "CREATE DRAFT":
		resp, err := s.Mail.CreateDraft(ctx, &mailv1.CreateDraftRequest{Bot: t.Bot, To: to, Subject: c.Args[1].String(), Body: c.Args[2].String()})
		if err != nil {
			return vm.Null, err
		}
		return vm.Str(resp.DraftId), nil
	}
	return vm.Null, fmt.Errorf("%s is not a mail keyword", c.Keyword)
}

func (s *Services) task(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	req := &tasksv1.CreateTaskRequest{Bot: t.Bot, Title: c.Args[0].String(), Assignee: c.Args[1].String(), Due: c.Args[2].String()}
	if strings.TrimSpace(req.Title) == "" {
		return vm.Null, errors.New("CREATE TASK needs a title")
	}
	if len(c.Args) > 3 {
		req.Project = c.Args[3].String()
	}
	resp, err := s.Tasks.CreateTask(ctx, req)
	if err != nil {
		return vm.Null, err
	}
	return vm.Str(resp.TaskId), nil
}

func (s *Services) book(ctx context.Context, t Turn, c *vm.Call) (vm.Value, error) {
	minutes, ok := c.Args[2].Number()
	if !ok || minutes <= 0 || minutes > 24*60 {
		return vm.Null, fmt.Errorf("BOOK: duration must be minutes between 1 and 1440, found %q", c.Args[2].String())
	}
	resp, err := s.Contacts.Book(ctx, &contactsv1.BookRequest{Bot: t.Bot, Who: c.Args[0].String(), When: c.Args[1].String(),
		DurationMinutes: int32(minutes), Subject: c.Args[3].String()})
	if err != nil {
		return vm.Null, err
	}
	return vm.Str(resp.EventId), nil
}
