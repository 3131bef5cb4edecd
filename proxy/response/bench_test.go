package response_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// usersPage is a page of users of about size bytes, as Graph answers
// GET /users with $select of a dozen properties.
func usersPage(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"businessPhones":["+1 425 555 %04d"],"displayName":"Adele Vance %d","givenName":"Adele","jobTitle":"Retail Manager",`+
			`"mail":"AdeleV%d@contoso.example","mobilePhone":null,"officeLocation":"18/2111","preferredLanguage":"en-US","surname":"Vance",`+
			`"userPrincipalName":"AdeleV%d@contoso.example","id":"%08x-44d7-43e1-9a83-5f2406dee5bd","department":"Retail","accountEnabled":true,`+
			`"employeeOrgData":{"division":"Stores","costCenter":"CC-%d"}}`, i%10000, i, i, i, i, i)
	}
	b.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQAAAA"}`)
	return b.Bytes()
}

// The filter's throughput on a 1 MB page, per core, beside the link
// rewriter's alone on the same page (what an answer without a response
// section costs): b.SetBytes makes go test report MB/s.
func benchFilter(b *testing.B, sec func(*testing.B) response.Options) {
	page := usersPage(1 << 20)
	o := sec(b)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		f := response.New(io.NopCloser(bytes.NewReader(page)), o)
		if _, err := io.Copy(io.Discard, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

var benchLinks = proxy.NewLinkRewriter("https://graph.microsoft.com", "https://gp.contoso.example")

// BenchmarkLinkRewriter1MB is the rewriter alone: the cost of an answer
// without a response section, the baseline of the filter's ratio.
func BenchmarkLinkRewriter1MB(b *testing.B) {
	page := usersPage(1 << 20)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		r := benchLinks.Body(io.NopCloser(bytes.NewReader(page)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkFilter1MBFields keeps four fields of each user.
func BenchmarkFilter1MBFields(b *testing.B) {
	benchFilter(b, func(b *testing.B) response.Options {
		return response.Options{Response: benchSection(b, []string{"id", "displayName", "mail", "userPrincipalName"}, nil, nil),
			Status: 200, Links: benchLinks.FilterLinks(true)}
	})
}

// BenchmarkFilter1MBRedactPseudonymise keeps all but two fields and
// pseudonymises two.
func BenchmarkFilter1MBRedactPseudonymise(b *testing.B) {
	benchFilter(b, func(b *testing.B) response.Options {
		return response.Options{Response: benchSection(b, nil, []string{"mobilePhone", "businessPhones"}, []string{"mail", "userPrincipalName"}),
			Status: 200, Key: key, Links: benchLinks.FilterLinks(true)}
	})
}

// BenchmarkFilter1MBWhole passes everything: the tokenizer's own cost.
func BenchmarkFilter1MBWhole(b *testing.B) {
	benchFilter(b, func(b *testing.B) response.Options {
		return response.Options{Response: benchSection(b, nil, []string{"nothing"}, nil), Status: 200, Links: benchLinks.FilterLinks(true)}
	})
}

func benchSection(b *testing.B, fields, redact, pseudo []string) *policy.Response {
	r, err := policy.NewResponse("bench", fields, nil, redact, pseudo)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
