package policy

import "go.yaml.in/yaml/v3"

// The policy file's YAML, as it is decoded before it is compiled
// (file.go): every key a policy may have.

type fileSchema struct {
	Version       int                `yaml:"version"`
	Mode          string             `yaml:"mode"`
	Callers       []yamlCaller       `yaml:"callers"`
	Rules         []yamlRule         `yaml:"rules"`
	Subscriptions *yamlSubscriptions `yaml:"subscriptions"`
	Mail          *yamlMail          `yaml:"mail"`
	ExternalLinks bool               `yaml:"externalLinks"`
}

type yamlCaller struct {
	Name        string     `yaml:"name"`
	Match       yamlMatch  `yaml:"match"`
	Permissions []string   `yaml:"permissions"`
	Users       *yamlUsers `yaml:"users"`
	RateLimit   *yamlRate  `yaml:"rateLimit"`
	// Delegated declares the caller's access as a signed-in user.
	Delegated *yamlDelegated `yaml:"delegated"`
	// Notifications is how the caller's subscriptions deliver change
	// notifications: "direct" (the default) or "relay".
	Notifications string `yaml:"notifications"`
}

type yamlRate struct {
	RPS               float64 `yaml:"rps"`
	Burst             int     `yaml:"burst"`
	Concurrent        int     `yaml:"concurrent"`
	MailboxConcurrent int     `yaml:"mailboxConcurrent"`
	MailboxPer10Min   int     `yaml:"mailboxPer10Min"`
}

type yamlMatch struct {
	TenantID       string `yaml:"tenantID"`
	AppID          string `yaml:"appID"`
	CertThumbprint string `yaml:"certThumbprint"`
}

type yamlUsers struct {
	Group        string            `yaml:"group"`
	WithoutGroup *yamlWithoutGroup `yaml:"withoutGroup"`
}

type yamlWithoutGroup struct {
	Domains   []string `yaml:"domains"`
	Addresses []string `yaml:"addresses"`
}

type yamlRule struct {
	ID              string        `yaml:"id"`
	Method          strList       `yaml:"method"`
	Path            string        `yaml:"path"`
	Versions        []string      `yaml:"versions"`
	Query           []string      `yaml:"query"`
	Select          []string      `yaml:"select"`
	Permission      string        `yaml:"permission"`
	PeopleDomains   []string      `yaml:"peopleDomains"`
	AttendeeDomains []string      `yaml:"attendeeDomains"` // the name peopleDomains had
	Response        *yamlResponse `yaml:"response"`
	// Content makes the rule move file content through the proxy
	// (content.go).
	Content *yamlContent `yaml:"content"`
	// DelegatedScope and OtherUsers serve signed-in users' calls.
	DelegatedScope string `yaml:"delegatedScope"`
	OtherUsers     bool   `yaml:"otherUsers"`
}

type yamlSubscriptions struct {
	NotificationURLs    []string `yaml:"notificationUrls"`
	IncludeResourceData bool     `yaml:"includeResourceData"`
}

type yamlMail struct {
	RecipientDomains []string `yaml:"recipientDomains"`
}

// strList is a YAML scalar or a sequence of scalars.
type strList []string

func (s *strList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}
