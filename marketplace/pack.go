// Package marketplace holds the Azure Marketplace offer's package and packs
// it. The offer is an Azure Application with a solution template plan: the
// deployment is the customer's own, in the customer's subscription, and the
// publisher gets no access to it (a managed application would give the
// publisher the resources and lock the customer out). Its package is
// mainTemplate.json (deploy/bicep/main.bicep in classic ARM JSON) and
// createUiDefinition.json; viewDefinition.json belongs to managed
// applications only. docs/installation.md ("Offer type") says so to the
// customer.
package marketplace

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files are the package's files, at the root of app.zip: a solution
// template's.
var Files = []string{"mainTemplate.json", "createUiDefinition.json"}

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
