package bot_test

import (
	"sort"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
	compliancev1 "github.com/botserver-go/botserver-go/proto/bot/compliance/v1"
	contactsv1 "github.com/botserver-go/botserver-go/proto/bot/contacts/v1"
	corev1 "github.com/botserver-go/botserver-go/proto/bot/core/v1"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
	videov1 "github.com/botserver-go/botserver-go/proto/bot/video/v1"
)

// Every service registers on a gRPC server under its full name, and its
// descriptor is in the global registry (what reflection serves).
func TestServicesRegister(t *testing.T) {
	s := grpc.NewServer()
	defer s.Stop()
	corev1.RegisterCoreServiceServer(s, corev1.UnimplementedCoreServiceServer{})
	authv1.RegisterAuthServiceServer(s, authv1.UnimplementedAuthServiceServer{})
	chatv1.RegisterChatServiceServer(s, chatv1.UnimplementedChatServiceServer{})
	autov1.RegisterAutoServiceServer(s, autov1.UnimplementedAutoServiceServer{})
	llmv1.RegisterLlmServiceServer(s, llmv1.UnimplementedLlmServiceServer{})
	vectordbv1.RegisterVectordbServiceServer(s, vectordbv1.UnimplementedVectordbServiceServer{})
	drivev1.RegisterDriveServiceServer(s, drivev1.UnimplementedDriveServiceServer{})
	mailv1.RegisterMailServiceServer(s, mailv1.UnimplementedMailServiceServer{})
	tasksv1.RegisterTasksServiceServer(s, tasksv1.UnimplementedTasksServiceServer{})
	contactsv1.RegisterContactsServiceServer(s, contactsv1.UnimplementedContactsServiceServer{})
	compliancev1.RegisterComplianceServiceServer(s, compliancev1.UnimplementedComplianceServiceServer{})
	videov1.RegisterVideoServiceServer(s, videov1.UnimplementedVideoServiceServer{})

	want := []string{
		"bot.auth.v1.AuthService",
		"bot.auto.v1.AutoService",
		"bot.chat.v1.ChatService",
		"bot.compliance.v1.ComplianceService",
		"bot.contacts.v1.ContactsService",
		"bot.core.v1.CoreService",
		"bot.drive.v1.DriveService",
		"bot.llm.v1.LlmService",
		"bot.mail.v1.MailService",
		"bot.tasks.v1.TasksService",
		"bot.vectordb.v1.VectordbService",
		"bot.video.v1.VideoService",
	}
	var got []string
	for name := range s.GetServiceInfo() {
		got = append(got, name)
	}
	sort.Strings(got)
	if len(got) != len(want) {
		t.Fatalf("registered services = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("registered services = %v, want %v", got, want)
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(want[i]))
		if err != nil {
			t.Fatalf("descriptor of %s: %v", want[i], err)
		}
		if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
			t.Fatalf("%s is a %T, not a service", want[i], d)
		}
	}
}
