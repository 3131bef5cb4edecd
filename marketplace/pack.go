// Package marketplace holds the Azure Marketplace App Offer's package —
// mainTemplate.json (built from deploy/bicep/main.bicep),
// createUiDefinition.json and viewDefinition.json — and packs it.
package marketplace

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files are the package's files, at the root of app.zip.
var Files = []string{"mainTemplate.json", "createUiDefinition.json", "viewDefinition.json"}

// Pack writes the files of dir into the zip at out, after checking that
// each is JSON. Entries carry a fixed time, so the same files make the same
// package.
func Pack(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, name := range Files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Close()
			return err
		}
		if !json.Valid(data) {
			f.Close()
			return fmt.Errorf("%s is not valid JSON", name)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			f.Close()
			return err
		}
		if _, err := w.Write(data); err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
