package drive

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Content types by extension for the formats bots use; the rest come from
// the system's mime table.
var byExt = map[string]string{
	".bas":  "text/plain; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".csv":  "text/csv; charset=utf-8",
	".json": "application/json",
	".html": "text/html; charset=utf-8",
	".htm":  "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".xml":  "application/xml",
	".pdf":  "application/pdf",
	".zip":  "application/zip",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// sniffLen is how much of the content http.DetectContentType looks at.
const sniffLen = 512

// contentType decides a file's type from its name and first bytes. The
// extension wins when the bytes agree with it; bytes that contradict it
// (a ".pdf" that is not a PDF, a ".docx" that is not a zip, a ".txt" full
// of binary) win over it, so a file cannot pass for a format it is not.
// A declared type is used only when neither says anything useful.
func contentType(p string, head []byte, declared string) string {
	sniffed := http.DetectContentType(head)
	ext := strings.ToLower(path.Ext(p))
	byName := byExt[ext]
	if byName == "" && ext != "" {
		byName = mime.TypeByExtension(ext)
	}
	if len(head) == 0 {
		if byName != "" {
			return byName
		}
		return "application/octet-stream"
	}
	binary := sniffed == "application/octet-stream"
	switch {
	case byName == "":
	case ext == ".pdf" && !bytes.HasPrefix(head, []byte("%PDF-")):
		return sniffed
	case (ext == ".docx" || ext == ".xlsx" || ext == ".pptx" || ext == ".zip") && !bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return sniffed
	case (strings.HasPrefix(byName, "text/") || byName == "application/json") && binary:
		return sniffed
	default:
		return byName
	}
	if declared != "" && (binary || sniffed == "text/plain; charset=utf-8") {
		if mt, params, err := mime.ParseMediaType(declared); err == nil && strings.Contains(mt, "/") {
			return mime.FormatMediaType(mt, params)
		}
	}
	return sniffed
}
