package terraform

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
)

// module is one Terraform module folder, loaded twice: by
// terraform-config-inspect (declarations) and by hcl (every expression).
type module struct {
	dir    string
	cfg    *tfconfig.Module
	bodies map[string]*hclsyntax.Body // file name -> body
	locals map[string]bool
	// iterators are the names dynamic blocks bind.
	iterators map[string]bool
}

func moduleDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, pattern := range []string{"modules/*", "envs/*"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	if len(dirs) < 5 {
		t.Fatalf("found only %v: expected 4 modules and an example environment", dirs)
	}
	return dirs
}

func load(t *testing.T, dir string) *module {
	t.Helper()
	cfg, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", dir, diags.Err())
	}
	m := &module{dir: dir, cfg: cfg, bodies: map[string]*hclsyntax.Body{}, locals: map[string]bool{}, iterators: map[string]bool{}}
	p := hclparse.NewParser()
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		body := file.Body.(*hclsyntax.Body)
		m.bodies[f] = body
		for _, b := range body.Blocks {
			if b.Type == "locals" {
				for name := range b.Body.Attributes {
					m.locals[name] = true
				}
			}
		}
		walkBlocks(body, func(b *hclsyntax.Block) {
			if b.Type == "dynamic" {
				m.iterators[b.Labels[0]] = true
			}
		})
	}
	return m
}

func walkBlocks(body *hclsyntax.Body, fn func(*hclsyntax.Block)) {
	for _, b := range body.Blocks {
		fn(b)
		walkBlocks(b.Body, fn)
	}
}

// exprs calls fn with every attribute expression in body, nested blocks
// included, and the name of the attribute.
func exprs(body *hclsyntax.Body, fn func(name string, e hclsyntax.Expression)) {
	for name, a := range body.Attributes {
		fn(name, a.Expr)
	}
	for _, b := range body.Blocks {
		exprs(b.Body, fn)
	}
}

func attrName(s hcl.Traverser) string {
	if a, ok := s.(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// TestModulesResolve loads every module and the example environment and
// checks what `tofu validate` would check without the provider: every
// var., local., module., data. and resource reference names something
// declared, module calls pass exactly their callee's variables (all
// required ones), module outputs used exist, every variable is used and
// documented, and every module requires the AWS provider with a version.
func TestModulesResolve(t *testing.T) {
	mods := map[string]*module{}
	for _, dir := range moduleDirs(t) {
		mods[dir] = load(t, dir)
	}
	for dir, m := range mods {
		used := map[string]bool{}
		for file, body := range m.bodies {
			exprs(body, func(name string, e hclsyntax.Expression) {
				// Type constraints and ignore_changes name types and
				// attributes, not values.
				if name == "type" || name == "ignore_changes" {
					return
				}
				for _, tr := range hclsyntax.Variables(e) {
					pos := fmt.Sprintf("%s:%d", file, tr.SourceRange().Start.Line)
					root := tr.RootName()
					second := ""
					if len(tr) > 1 {
						second = attrName(tr[1])
					}
					switch root {
					case "var":
						used[second] = true
						if m.cfg.Variables[second] == nil {
							t.Errorf("%s: var.%s is not declared", pos, second)
						}
					case "local":
						if !m.locals[second] {
							t.Errorf("%s: local.%s is not declared", pos, second)
						}
					case "module":
						call := m.cfg.ModuleCalls[second]
						if call == nil {
							t.Errorf("%s: module.%s is not called", pos, second)
							continue
						}
						if len(tr) > 2 {
							callee := mods[filepath.Clean(filepath.Join(dir, call.Source))]
							if out := attrName(tr[2]); callee != nil && callee.cfg.Outputs[out] == nil {
								t.Errorf("%s: module.%s has no output %q", pos, second, out)
							}
						}
					case "data":
						key := "data." + second + "." + attrName(tr[2])
						if m.cfg.DataResources[key] == nil {
							t.Errorf("%s: %s is not declared", pos, key)
						}
					case "each", "count", "self", "path", "terraform":
					default:
						if m.iterators[root] {
							continue
						}
						if m.cfg.ManagedResources[root+"."+second] == nil {
							t.Errorf("%s: %s.%s is not declared", pos, root, second)
						}
					}
				}
			})
		}
		for name, v := range m.cfg.Variables {
			if !used[name] {
				t.Errorf("%s: variable %q is declared but never used", v.Pos.Filename, name)
			}
			if v.Description == "" {
				t.Errorf("%s: variable %q has no description", v.Pos.Filename, name)
			}
		}
		for name, o := range m.cfg.Outputs {
			if o.Description == "" {
				t.Errorf("%s: output %q has no description", o.Pos.Filename, name)
			}
		}
		if p := m.cfg.RequiredProviders["aws"]; p == nil || p.Source != "hashicorp/aws" || len(p.VersionConstraints) == 0 {
			t.Errorf("%s: does not require hashicorp/aws with a version constraint", dir)
		}
		// Module calls: the arguments are the callee's variables.
		for _, body := range m.bodies {
			for _, b := range body.Blocks {
				if b.Type != "module" {
					continue
				}
				call := m.cfg.ModuleCalls[b.Labels[0]]
				calleeDir := filepath.Clean(filepath.Join(dir, call.Source))
				callee := mods[calleeDir]
				if callee == nil {
					t.Errorf("%s: module %s: source %s is not one of %v", dir, call.Name, call.Source, slices.Sorted(mapKeys(mods)))
					continue
				}
				given := map[string]bool{}
				for name := range b.Body.Attributes {
					switch name {
					case "source", "version", "depends_on", "count", "for_each", "providers":
						continue
					}
					given[name] = true
					if callee.cfg.Variables[name] == nil {
						t.Errorf("%s: module %s passes %q, which %s does not declare", dir, call.Name, name, calleeDir)
					}
				}
				for name, v := range callee.cfg.Variables {
					if v.Required && !given[name] {
						t.Errorf("%s: module %s does not pass the required variable %q", dir, call.Name, name)
					}
				}
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestFormatted compares every .tf file with its canonical form
// (hclwrite.Format, the formatting `tofu fmt` applies).
func TestFormatted(t *testing.T) {
	files, _ := filepath.Glob("*/*/*.tf")
	more, _ := filepath.Glob("*/*.tf")
	files = append(files, more...)
	if len(files) < 15 {
		t.Fatalf("only %d .tf files found", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hclwrite.Format(src); !bytes.Equal(got, src) {
			t.Errorf("%s is not formatted (tofu fmt); first difference at line %d", f, firstDiffLine(src, got))
		}
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// TestTemplates renders each templatefile() call's template with the
// variables it is given: the template uses only those, uses all of them,
// and renders to a shell script that bash accepts (bash -n).
func TestTemplates(t *testing.T) {
	n := 0
	for _, dir := range moduleDirs(t) {
		m := load(t, dir)
		for file, body := range m.bodies {
			exprs(body, func(_ string, e hclsyntax.Expression) {
				hclsyntax.VisitAll(e, func(node hclsyntax.Node) hcl.Diagnostics {
					call, ok := node.(*hclsyntax.FunctionCallExpr)
					if !ok || call.Name != "templatefile" {
						return nil
					}
					n++
					checkTemplate(t, file, dir, call)
					return nil
				})
			})
		}
	}
	if n < 2 {
		t.Errorf("found %d templatefile calls, want the coordinator's and the executor's", n)
	}
}

func checkTemplate(t *testing.T, file, dir string, call *hclsyntax.FunctionCallExpr) {
	t.Helper()
	pathV, diags := call.Args[0].Value(&hcl.EvalContext{Variables: map[string]cty.Value{
		"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(dir)}),
	}})
	if diags.HasErrors() {
		t.Errorf("%s: template path: %v", file, diags)
		return
	}
	tplPath := pathV.AsString()
	src, err := os.ReadFile(tplPath)
	if err != nil {
		t.Errorf("%s: %v", file, err)
		return
	}
	obj, ok := call.Args[1].(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Errorf("%s: templatefile's variables are not an object literal", file)
		return
	}
	given := map[string]bool{}
	for _, item := range obj.Items {
		k, _ := item.KeyExpr.Value(nil)
		given[k.AsString()] = true
	}
	tpl, diags := hclsyntax.ParseTemplate(src, tplPath, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Errorf("%s: %v", tplPath, diags)
		return
	}
	// Values: strings, and objects of numbers for attribute accesses.
	attrs := map[string]map[string]cty.Value{}
	usedKeys := map[string]bool{}
	for _, tr := range tpl.Variables() {
		root := tr.RootName()
		usedKeys[root] = true
		if !given[root] {
			t.Errorf("%s:%d: ${%s} is not among the variables %s passes", tplPath, tr.SourceRange().Start.Line, root, file)
		}
		if len(tr) > 1 {
			if attrs[root] == nil {
				attrs[root] = map[string]cty.Value{}
			}
			attrs[root][attrName(tr[1])] = cty.NumberIntVal(7000)
		}
	}
	for k := range given {
		if !usedKeys[k] {
			t.Errorf("%s passes %q to %s, which never uses it", file, k, tplPath)
		}
	}
	vars := map[string]cty.Value{}
	for k := range given {
		vars[k] = cty.StringVal("x-" + k)
		if attrs[k] != nil {
			vars[k] = cty.ObjectVal(attrs[k])
		}
	}
	out, diags := tpl.Value(&hcl.EvalContext{Variables: vars})
	if diags.HasErrors() {
		t.Errorf("%s: render: %v", tplPath, diags)
		return
	}
	script := out.AsString()
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(script)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s renders to a script bash rejects: %v\n%s\n%s", tplPath, err, msg, script)
	}
	// Shell expansions survive the template ($${x} -> ${x}).
	if strings.Contains(string(src), "$${") && !strings.Contains(script, "${f%%:*}") {
		t.Errorf("%s: escaped shell expansions did not render as ${...}:\n%s", tplPath, script)
	}
}

// apiActions maps the AWS API operations package store, package scaling
// and the Lambda's cold start (trigger/secret.go) call to the IAM actions
// that allow them. A new operation in the
// code fails TestPoliciesGrantWhatTheCodeCalls until it is listed here
// (and granted where needed).
var apiActions = map[string][]string{
	// store/s3.go
	"GetObject":                 {"s3:GetObject"},
	"HeadObject":                {"s3:GetObject"},
	"PutObject":                 {"s3:PutObject"},
	"DeleteObject":              {"s3:DeleteObject"},
	"ListObjectsV2":             {"s3:ListBucket"},
	"ListMultipartUploads":      {"s3:ListBucketMultipartUploads"},
	"AbortMultipartUpload":      {"s3:AbortMultipartUpload"},
	"Upload":                    {"s3:PutObject", "s3:AbortMultipartUpload"}, // transfer manager: PutObject or multipart
	"CreateBucket":              nil,                                         // tests and set-up only (Client())
	"SetDesiredCapacity":        {"autoscaling:SetDesiredCapacity"},
	"DescribeAutoScalingGroups": {"autoscaling:DescribeAutoScalingGroups"},
	"GetSecretValue":            {"secretsmanager:GetSecretValue"},
}

// sdkServices are the SDK packages whose clients codeOperations follows.
var sdkServices = map[string]bool{"s3": true, "autoscaling": true, "secretsmanager": true}

// codeOperations lists the AWS operations a Go file calls on its SDK
// clients: x.client.Op(...), x.api.Op(...), x.uploader.Upload(...),
// s3.NewOpPaginator(...) and secretsmanager.NewFromConfig(cfg).Op(...).
func codeOperations(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		switch x := sel.X.(type) {
		case *ast.SelectorExpr:
			if x.Sel.Name == "client" || x.Sel.Name == "api" || x.Sel.Name == "uploader" {
				ops[sel.Sel.Name] = true
			}
		case *ast.Ident:
			if name, ok := strings.CutPrefix(sel.Sel.Name, "New"); ok && strings.HasSuffix(name, "Paginator") && sdkServices[x.Name] {
				ops[strings.TrimSuffix(name, "Paginator")] = true
			}
		case *ast.CallExpr:
			if ctor, ok := x.Fun.(*ast.SelectorExpr); ok && ctor.Sel.Name == "NewFromConfig" {
				if pkg, ok := ctor.X.(*ast.Ident); ok && sdkServices[pkg.Name] {
					ops[sel.Sel.Name] = true
				}
			}
		}
		return true
	})
	return ops
}

// grant is what one policy document allows, by resource class.
type grant map[string]map[string]bool // class -> actions

func (g grant) add(class string, actions ...string) {
	if g[class] == nil {
		g[class] = map[string]bool{}
	}
	for _, a := range actions {
		g[class][a] = true
	}
}

func (g grant) sorted(class string) []string { return slices.Sorted(mapKeys(g[class])) }

// symbols are stand-in values of the iam module's variables: resources
// evaluate to ARNs that say what they point at.
func symbols() map[string]cty.Value {
	logs := map[string]cty.Value{}
	for _, k := range []string{"lambda_schedule", "lambda_upload", "coordinator", "executor"} {
		logs[k] = cty.StringVal("arn:aws:logs:r:1:log-group:" + k)
	}
	return map[string]cty.Value{
		"name":                     cty.StringVal("cz"),
		"external_bucket_arn":      cty.StringVal("arn:aws:s3:::EXTERNAL"),
		"internal_bucket_arn":      cty.StringVal("arn:aws:s3:::INTERNAL"),
		"content_bucket_arn":       cty.StringVal("arn:aws:s3:::CONTENT"),
		"executor_asg_arns":        cty.ListVal([]cty.Value{cty.StringVal("arn:aws:autoscaling:ASG-spot"), cty.StringVal("arn:aws:autoscaling:ASG-ondemand")}),
		"log_group_arns":           cty.MapVal(logs),
		"cluster_secret_arn":       cty.StringVal("arn:aws:secretsmanager:SECRET"),
		"external_team_principals": cty.ListVal([]cty.Value{cty.StringVal("arn:aws:iam::2:root")}),
		"tags":                     cty.MapValEmpty(cty.String),
	}
}

// resourceClass says what an evaluated resource ARN points at.
func resourceClass(arn string) string {
	switch {
	case arn == "*":
		return "*"
	case strings.Contains(arn, ":::EXTERNAL"):
		return "external"
	case strings.Contains(arn, ":::INTERNAL"):
		return "internal"
	case strings.Contains(arn, ":::CONTENT"):
		return "content"
	case strings.Contains(arn, ":ASG-"):
		return "asg"
	case arn == "arn:aws:secretsmanager:SECRET": // exactly the secret, no pattern
		return "secret"
	case strings.Contains(arn, ":log-group:"):
		name, _, _ := strings.Cut(arn[strings.Index(arn, ":log-group:")+len(":log-group:"):], ":")
		return "logs/" + name
	}
	return "unknown " + arn
}

// evalContext evaluates the module's locals over the stand-in variables.
func evalContext(m *module) *hcl.EvalContext {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(symbols())}}
	locals := map[string]cty.Value{}
	var attrs []*hclsyntax.Attribute
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			if b.Type == "locals" {
				for _, a := range b.Body.Attributes {
					attrs = append(attrs, a)
				}
			}
		}
	}
	// Locals that depend on locals: evaluate until nothing changes.
	for range len(attrs) + 1 {
		ctx.Variables["local"] = cty.ObjectVal(locals)
		for _, a := range attrs {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
				locals[a.Name] = v
			}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

func strings_(t *testing.T, what string, v cty.Value) []string {
	t.Helper()
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	if len(out) == 0 {
		t.Errorf("%s: empty", what)
	}
	return out
}

func policyDocuments(t *testing.T, m *module) map[string]grant {
	t.Helper()
	ctx := evalContext(m)
	out := map[string]grant{}
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			if b.Type != "data" || b.Labels[0] != "aws_iam_policy_document" || strings.HasSuffix(b.Labels[1], "_trust") {
				continue
			}
			name := b.Labels[1]
			if _, ok := b.Body.Attributes["source_policy_documents"]; ok {
				t.Errorf("%s: source_policy_documents hides what the role grants; spell its statements out", name)
			}
			g := grant{}
			for _, st := range b.Body.Blocks {
				if st.Type != "statement" {
					continue
				}
				if eff, ok := st.Body.Attributes["effect"]; ok {
					if v, _ := eff.Expr.Value(nil); v.AsString() == "Deny" {
						continue
					}
				}
				av, diags := st.Body.Attributes["actions"].Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("%s: actions: %v", name, diags)
				}
				resAttr, ok := st.Body.Attributes["resources"]
				if !ok {
					t.Errorf("%s: a statement without resources", name)
					continue
				}
				rv, diags := resAttr.Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("%s: resources: %v", name, diags)
				}
				for _, arn := range strings_(t, name+" resources", rv) {
					g.add(resourceClass(arn), strings_(t, name+" actions", av)...)
				}
			}
			out[name] = g
		}
	}
	return out
}

var (
	storeAll    = []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"}
	lambdaLogs  = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	agentLogs   = []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}
	lambdaVPC   = []string{"ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses"}
	secretRead  = []string{"secretsmanager:GetSecretValue"}
	autoscaling = []string{"autoscaling:SetDesiredCapacity"}
)

// wantGrants is, per role, what its code calls on each resource: the
// Lambda handlers (package trigger), the coordinator (engine state in the
// internal bucket, the quality page, package scaling), the executors (the
// runners) and the external team's uploads and reads.
var wantGrants = map[string]map[string][]string{
	"lambda_schedule": {"logs/lambda_schedule": lambdaLogs, "*": lambdaVPC, "secret": secretRead},
	"lambda_upload": {"logs/lambda_upload": lambdaLogs, "*": lambdaVPC, "secret": secretRead,
		"external": {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}},
	"coordinator": {"logs/coordinator": agentLogs, "secret": secretRead, "internal": storeAll,
		"external": {"s3:GetObject", "s3:ListBucket"},
		"asg":      autoscaling, "*": {"autoscaling:DescribeAutoScalingGroups"}},
	"executor": {"logs/executor": agentLogs, "secret": secretRead, "internal": storeAll,
		"external": {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"},
		"content":  {"s3:GetObject", "s3:ListBucket"}},
	"external_team": {"external": {"s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"}},
}

// TestPoliciesGrantWhatTheCodeCalls derives the S3, Auto Scaling and
// Secrets Manager actions from the calls in store/s3.go, scaling/aws.go
// and trigger/secret.go, and checks each role's policy grants exactly its
// row of wantGrants (the secret by its exact ARN), only actions the code
// calls, and no wildcard action on the internal bucket.
func TestPoliciesGrantWhatTheCodeCalls(t *testing.T) {
	called := map[string]bool{}
	for _, file := range []string{"../store/s3.go", "../scaling/aws.go", "../trigger/secret.go"} {
		ops := codeOperations(t, file)
		if len(ops) == 0 {
			t.Fatalf("%s: no AWS calls found; has the code moved?", file)
		}
		for op := range ops {
			actions, known := apiActions[op]
			if !known {
				t.Errorf("%s calls %s: map it to its IAM actions in apiActions and grant it where needed", file, op)
			}
			for _, a := range actions {
				called[a] = true
			}
		}
	}
	for _, a := range append(slices.Clone(storeAll), "autoscaling:SetDesiredCapacity", "autoscaling:DescribeAutoScalingGroups", "secretsmanager:GetSecretValue") {
		if !called[a] {
			t.Errorf("the policies grant %s but neither store, scaling nor trigger calls it", a)
		}
	}

	m := load(t, "modules/iam")
	docs := policyDocuments(t, m)
	for role, want := range wantGrants {
		g, ok := docs[role]
		if !ok {
			t.Errorf("no policy document %q", role)
			continue
		}
		classes := map[string]bool{}
		for c := range g {
			classes[c] = true
		}
		for c := range want {
			classes[c] = true
		}
		for c := range classes {
			got, w := g.sorted(c), slices.Sorted(slices.Values(want[c]))
			if !slices.Equal(got, w) {
				t.Errorf("%s on %s: grants %v, want %v", role, c, got, w)
			}
			for _, a := range got {
				service, _, _ := strings.Cut(a, ":")
				if sdkServices[service] && !called[a] {
					t.Errorf("%s: grants %s, which the code never calls", role, a)
				}
				if strings.Contains(a, "*") {
					t.Errorf("%s on %s: wildcard action %s", role, c, a)
				}
			}
		}
		for c := range g {
			if strings.HasPrefix(c, "unknown") {
				t.Errorf("%s: statements on a resource the test cannot classify: %s", role, c)
			}
		}
	}
	var roles []string
	for name := range docs {
		if _, ok := wantGrants[name]; !ok {
			roles = append(roles, name)
		}
	}
	sort.Strings(roles)
	if len(roles) > 0 {
		t.Errorf("policy documents without an expected row: %v", roles)
	}
}

// TestLambdasReadTheClusterSecret checks the functions take the token and
// CA from the cluster secret, not from their environment: CZ_SECRET_ARN is
// the triggers module's cluster_secret_arn, no CZ_TOKEN, CZ_CA_PEM,
// CZ_CA_FILE or CZ_INSECURE is set, and the example environment hands the
// triggers the same secret whose reading it grants the Lambda roles.
func TestLambdasReadTheClusterSecret(t *testing.T) {
	m := load(t, "modules/triggers")
	var env *hclsyntax.ObjectConsExpr
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			if b.Type != "resource" || b.Labels[0] != "aws_lambda_function" {
				continue
			}
			for _, e := range b.Body.Blocks {
				if e.Type == "environment" {
					env, _ = e.Body.Attributes["variables"].Expr.(*hclsyntax.ObjectConsExpr)
				}
			}
		}
	}
	if env == nil {
		t.Fatal("modules/triggers: no aws_lambda_function with environment { variables = { ... } }")
	}
	vars := map[string]hclsyntax.Expression{}
	for _, item := range env.Items {
		k, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("environment key: %v", diags)
		}
		vars[k.AsString()] = item.ValueExpr
	}
	if got := traversal(vars["CZ_SECRET_ARN"]); got != "var.cluster_secret_arn" {
		t.Errorf("the functions' CZ_SECRET_ARN is %q, want var.cluster_secret_arn", got)
	}
	for _, k := range []string{"CZ_TOKEN", "CZ_CA_PEM", "CZ_CA_FILE", "CZ_INSECURE"} {
		if vars[k] != nil {
			t.Errorf("the functions' environment sets %s; the token and CA come from the cluster secret", k)
		}
	}

	// The example environment: triggers and iam get the same secret.
	e := load(t, "envs/example")
	args := map[string]string{}
	for _, body := range e.bodies {
		for _, b := range body.Blocks {
			if b.Type == "module" && (b.Labels[0] == "triggers" || b.Labels[0] == "iam") {
				if a := b.Body.Attributes["cluster_secret_arn"]; a != nil {
					args[b.Labels[0]] = traversal(a.Expr)
				}
			}
		}
	}
	if args["triggers"] == "" || args["triggers"] != args["iam"] {
		t.Errorf("envs/example passes cluster_secret_arn %q to triggers and %q to iam, want the same secret", args["triggers"], args["iam"])
	}
}

// traversal renders a plain reference such as var.x, or "" for anything
// else.
func traversal(e hclsyntax.Expression) string {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return ""
	}
	parts := []string{st.Traversal.RootName()}
	for _, s := range st.Traversal[1:] {
		parts = append(parts, attrName(s))
	}
	return strings.Join(parts, ".")
}
