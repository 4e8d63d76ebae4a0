// Package deploy holds the validation of botserver-go's deployment files,
// as Go tests (there is no Docker engine or Kubernetes cluster in CI):
//
//   - helm_test.go renders the Helm chart (helm/botserver) with `helm
//     template` for every service and for the chat set, decodes each object
//     strictly into Kubernetes API types and checks Deployments, Services,
//     probes, HPAs, PDBs, security contexts, settings wiring and the
//     migration Job;
//   - compose_test.go loads compose.yaml with compose-go for the profiles
//     all, chat, allinone and each single service, with .env.example as the
//     environment, and fails on undefined variables;
//   - dockerfile_test.go parses the Dockerfile with BuildKit's parser and
//     checks its stages, the non-root runtime user and that every binary it
//     can build is a cmd/ of the workspace.
//
// healthprobe/ is the container health check binary copied into every image.
// Run everything with `make deploy-check` (it installs the pinned helm).
package deploy
