package deploy

import (
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	auroraPath = "aurora.yaml"
	samPath    = "../template.yaml"
)

// auroraFed are the parameters of template.yaml that take the Aurora stack's
// outputs of the same names.
var auroraFed = []string{
	"DBSecretARN", "DBRuntimeSecretARN", "DBEndpoint", "DBPort", "DBName",
	"DBClusterARN", "SubnetIds", "LambdaSecurityGroupId",
}

// apiEnv is every environment variable the code reads on Lambda, with the
// template.yaml parameter it must come from. DB_SECRET_ARN is checked apart:
// ApiFunction gets it only when the admin API is on; so are directEnv and
// DB_DRIVER, which follow DatabaseAccess.
var apiEnv = map[string]string{
	"DB_RUNTIME_SECRET_ARN":  "DBRuntimeSecretARN",
	"DB_NAME":                "DBName",
	"DB_CLUSTER_ARN":         "DBClusterARN",
	"AUTH_MODE":              "AuthMode",
	"ADMIN_TOKEN_SECRET_ARN": "AdminTokenSecretARN",
	"CORS_ALLOWED_ORIGINS":   "CorsAllowedOrigins",
	"REQUEST_TIMEOUT":        "RequestTimeout",
	"LOG_LEVEL":              "LogLevel",
	"DB_TENANT_ROLES":        "TenantRoles",
}

// opsEnv is what OpsFunction (migrate, tenants, keys) reads.
var opsEnv = map[string]string{
	"DB_SECRET_ARN":         "DBSecretARN",
	"DB_RUNTIME_SECRET_ARN": "DBRuntimeSecretARN",
	"DB_NAME":               "DBName",
	"DB_CLUSTER_ARN":        "DBClusterARN",
	"LOG_LEVEL":             "LogLevel",
}

// directEnv is what both functions read to connect to PostgreSQL, with
// DatabaseAccess=direct only: the Data API driver opens no connection.
var directEnv = map[string]string{
	"DB_HOST": "DBEndpoint",
	"DB_PORT": "DBPort",
}

// packagedMigrations is the folder of the application set inside the
// function package: where the Makefile copies TENANT_MIGRATIONS_DIR, and the
// value of TenantMigrations that points both functions at it.
const packagedMigrations = "migrations"

// problemStatus is SPEC §4's table: each problem code and its status.
var problemStatus = map[string]int{
	"missing-tenant-id": 400, "invalid-tenant-id": 400, "malformed-json": 400,
	"invalid-query": 400, "invalid-cursor": 400, "unauthorized": 401,
	"forbidden": 403, "tenant-suspended": 403, "tenant-not-found": 404,
	"item-not-found": 404, "not-found": 404, "method-not-allowed": 405,
	"conflict": 409, "idempotency-key-reused": 409, "precondition-failed": 412,
	"payload-too-large": 413, "unsupported-media-type": 415,
	"validation-failed": 422, "rate-limited": 429, "unavailable": 503,
	"internal": 500,
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

// resolvedAll resolves the template symbolically under every scenario.
func resolvedAll(t *testing.T, tpl *cfnTemplate) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, s := range tpl.scenarios(t) {
		doc, err := tpl.resolved(s, symbolic)
		if err != nil {
			t.Fatalf("%s [%s]: %v", tpl.path, s.name, err)
		}
		out[s.name] = doc
	}
	return out
}

// isDataAPI reports whether template.yaml's functions use the RDS Data API
// under s, checking that the conditions follow DatabaseAccess.
func isDataAPI(t *testing.T, s scenario) bool {
	t.Helper()
	dataAPI := s.values["DatabaseAccess"] == "data-api"
	if s.conditions["DataApiAccess"] != dataAPI || s.conditions["DirectAccess"] != !dataAPI {
		t.Fatalf("[%s] DataApiAccess %v and DirectAccess %v must follow DatabaseAccess=%s",
			s.name, s.conditions["DataApiAccess"], s.conditions["DirectAccess"], s.values["DatabaseAccess"])
	}
	return dataAPI
}

// moreDatabases reports whether template.yaml names more databases' owner
// secrets and clusters under s, checking that the conditions follow
// MoreDBSecretARNs, MoreDBClusterARNs and AdminTokenSecretARN.
func moreDatabases(t *testing.T, s scenario) (secrets, clusters bool) {
	t.Helper()
	secrets, clusters = s.values["MoreDBSecretARNs"] != "", s.values["MoreDBClusterARNs"] != ""
	admin := s.values["AdminTokenSecretARN"] != ""
	if s.conditions["MoreDBSecrets"] != secrets || s.conditions["MoreDBClusters"] != clusters ||
		s.conditions["AdminApiMoreDBSecrets"] != (secrets && admin) {
		t.Fatalf("[%s] MoreDBSecrets %v, MoreDBClusters %v and AdminApiMoreDBSecrets %v must follow MoreDBSecretARNs=%q, MoreDBClusterARNs=%q and AdminTokenSecretARN=%q",
			s.name, s.conditions["MoreDBSecrets"], s.conditions["MoreDBClusters"], s.conditions["AdminApiMoreDBSecrets"],
			s.values["MoreDBSecretARNs"], s.values["MoreDBClusterARNs"], s.values["AdminTokenSecretARN"])
	}
	return secrets, clusters
}

func scenarioByName(t *testing.T, tpl *cfnTemplate) map[string]scenario {
	t.Helper()
	out := map[string]scenario{}
	for _, s := range tpl.scenarios(t) {
		out[s.name] = s
	}
	return out
}

func resourceOf(doc map[string]any, id string) map[string]any {
	resources, _ := doc["Resources"].(map[string]any)
	r, _ := resources[id].(map[string]any)
	return r
}

func propsOf(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func idsOfType(doc map[string]any, typ string) []string {
	resources, _ := doc["Resources"].(map[string]any)
	var ids []string
	for id, r := range resources {
		if rm, _ := r.(map[string]any); rm["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestTemplatesMatchSchemas validates every resource of both templates, under
// every combination of the parameters their conditions read, against the
// published resource schemas: aurora.yaml against CloudFormation's,
// template.yaml against SAM's (and its plain CloudFormation resources against
// CloudFormation's too). For template.yaml the combinations include both
// DatabaseAccess variants, and so the roles of the data-api one. It also
// checks that every reference names something that exists in that
// combination.
func TestTemplatesMatchSchemas(t *testing.T) {
	cfn, err := cloudFormationSchema()
	if err != nil {
		t.Fatal(err)
	}
	sam, err := samSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		schemas []*schemaSet
	}{
		{auroraPath, []*schemaSet{cfn}},
		{samPath, []*schemaSet{sam, cfn}},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			tpl := loadTemplate(t, tc.path)
			if err := tc.schemas[0].validateTemplate(tpl.doc); err != nil {
				t.Errorf("%s does not match %s:\n%v", tc.path, tc.schemas[0].name, err)
			}
			for _, p := range tpl.conditionProblems() {
				t.Error(p)
			}
			for _, s := range tpl.scenarios(t) {
				doc, err := tpl.resolved(s, concrete)
				if err != nil {
					t.Fatalf("[%s] %v", s.name, err)
				}
				resources, _ := doc["Resources"].(map[string]any)
				if len(resources) == 0 {
					t.Fatalf("[%s] no resources", s.name)
				}
				for id, r := range resources {
					typ, _ := r.(map[string]any)["Type"].(string)
					validated := false
					for _, sch := range tc.schemas {
						if !sch.hasType(typ) && validated {
							continue // AWS::Serverless::* is in SAM's schema only
						}
						validated = true
						if err := sch.validateResource(typ, r); err != nil {
							t.Errorf("[%s] resource %s (%s) does not match %s:\n%v", s.name, id, typ, sch.name, err)
						}
					}
				}
				sym, err := tpl.resolved(s, symbolic)
				if err != nil {
					t.Fatalf("[%s] %v", s.name, err)
				}
				for _, p := range referenceProblems(sym) {
					t.Errorf("[%s] %s", s.name, p)
				}
			}
		})
	}
}

// TestParameterDefaults checks that every default (and every sample value the
// tests make up) satisfies the parameter's own constraints, as CloudFormation
// will check at deploy time.
func TestParameterDefaults(t *testing.T) {
	for _, path := range []string{auroraPath, samPath} {
		tpl := loadTemplate(t, path)
		for name, p := range tpl.parameters() {
			values := []string{sampleValue(name, p)}
			if d, ok := p["Default"]; ok {
				values = []string{scalarString(d)}
			}
			for _, v := range values {
				if err := checkParameterValue(p, v); err != nil {
					t.Errorf("%s: parameter %s: value %q: %v", path, name, v, err)
				}
			}
		}
		// And every value the scenarios give a parameter that conditions
		// read (the sample of MoreDBSecretARNs, say).
		for _, s := range tpl.scenarios(t) {
			for name, v := range s.values {
				if err := checkParameterValue(tpl.parameters()[name], v); err != nil {
					t.Errorf("%s [%s]: parameter %s: value %q: %v", path, s.name, name, v, err)
				}
			}
		}
	}
	// The more databases' lists are empty by default: the policies are as
	// without them (TestMoreDatabasesChangeNothingByDefault).
	sam := loadTemplate(t, samPath)
	for _, name := range []string{"MoreDBSecretARNs", "MoreDBClusterARNs"} {
		p := sam.parameters()[name]
		if d, ok := p["Default"]; !ok || scalarString(d) != "" || p["Type"] != "CommaDelimitedList" {
			t.Errorf("template.yaml parameter %s: Type %v, Default %v; want a CommaDelimitedList, empty by default", name, p["Type"], d)
		}
	}
}

// checkParameterValue applies AllowedValues, AllowedPattern, MinValue and
// MaxValue the way CloudFormation does (the pattern must match the whole
// value).
func checkParameterValue(p map[string]any, v string) error {
	if allowed, ok := p["AllowedValues"].([]any); ok {
		found := false
		for _, a := range allowed {
			found = found || scalarString(a) == v
		}
		if !found {
			return fmt.Errorf("not among %v", allowed)
		}
	}
	if pattern, ok := p["AllowedPattern"].(string); ok {
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return err
		}
		values := []string{v}
		if typ, _ := p["Type"].(string); strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
			values = strings.Split(v, ",")
		}
		for _, e := range values {
			if !re.MatchString(e) {
				return fmt.Errorf("does not match %s", pattern)
			}
		}
	}
	if p["Type"] == "Number" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		if m, ok := p["MinValue"]; ok {
			if min, _ := strconv.ParseFloat(scalarString(m), 64); f < min {
				return fmt.Errorf("below MinValue %v", m)
			}
		}
		if m, ok := p["MaxValue"]; ok {
			if max, _ := strconv.ParseFloat(scalarString(m), 64); f > max {
				return fmt.Errorf("above MaxValue %v", m)
			}
		}
	}
	return nil
}

// TestAuroraOutputsFeedSAMParameters: every parameter that template.yaml takes
// from the Aurora stack is an output of aurora.yaml under the same name, with
// no default that would hide a missing value, and every output of aurora.yaml
// is such a parameter.
func TestAuroraOutputsFeedSAMParameters(t *testing.T) {
	aurora := loadTemplate(t, auroraPath)
	sam := loadTemplate(t, samPath)
	outputs := aurora.section("Outputs")
	params := sam.parameters()
	for _, name := range auroraFed {
		if _, ok := outputs[name]; !ok {
			t.Errorf("aurora.yaml has no output %s", name)
		}
		p, ok := params[name]
		if !ok {
			t.Errorf("template.yaml has no parameter %s", name)
			continue
		}
		if _, ok := p["Default"]; ok && name != "DBPort" && name != "DBName" {
			t.Errorf("template.yaml parameter %s has a default; it must come from the Aurora stack", name)
		}
	}
	if typ := params["SubnetIds"]["Type"]; typ != "List<AWS::EC2::Subnet::Id>" && typ != "CommaDelimitedList" {
		t.Errorf("SubnetIds is %v; the Aurora output is a comma-separated list", typ)
	}
	// The README passes all the Aurora stack's outputs to sam deploy as
	// parameter overrides in one go, so each must be a parameter there.
	for name, o := range mappings(outputs) {
		if _, ok := params[name]; !ok {
			t.Errorf("aurora.yaml output %s is no parameter of template.yaml", name)
		}
		if _, ok := o["Condition"]; ok {
			t.Errorf("aurora.yaml output %s is conditional", name)
		}
	}
}

// TestFunctionEnvironment: every variable the code reads is set on the
// function that needs it, from the right parameter.
func TestFunctionEnvironment(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		admin := scenarios[name].conditions["AdminApiEnabled"]
		if admin != (scenarios[name].values["AdminTokenSecretARN"] != "") {
			t.Fatalf("[%s] AdminApiEnabled must follow AdminTokenSecretARN", name)
		}
		dataAPI := isDataAPI(t, scenarios[name])
		for fn, want := range map[string]map[string]string{"ApiFunction": apiEnv, "OpsFunction": opsEnv} {
			env, _ := propsOf(resourceOf(doc, fn))["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for v, param := range want {
				if got := vars[v]; !reflect.DeepEqual(got, ref(param)) {
					t.Errorf("[%s] %s: %s = %v, want Ref %s", name, fn, v, got, param)
				}
			}
			// The driver follows DatabaseAccess; direct leaves DB_DRIVER
			// unset (pgx), as before the parameter existed.
			if got, ok := vars["DB_DRIVER"]; dataAPI && got != "data-api" || !dataAPI && ok {
				t.Errorf("[%s] %s: DB_DRIVER = %v, want data-api with DatabaseAccess=data-api and unset with direct", name, fn, got)
			}
			for v, param := range directEnv {
				if got, ok := vars[v]; dataAPI && ok || !dataAPI && !reflect.DeepEqual(got, ref(param)) {
					t.Errorf("[%s] %s: %s = %v, want Ref %s with DatabaseAccess=direct only", name, fn, v, got, param)
				}
			}
			for _, v := range []string{"DATABASE_URL", "DATABASE_RUNTIME_URL"} {
				if _, ok := vars[v]; ok {
					t.Errorf("[%s] %s sets %s; the functions take their credentials from the secrets", name, fn, v)
				}
			}
			if fn == "ApiFunction" {
				got, ok := vars["DB_SECRET_ARN"]
				var want any = ""
				if admin {
					want = ref("DBSecretARN")
				}
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("[%s] ApiFunction: DB_SECRET_ARN = %v, want %v (the owner secret only with the admin API on)", name, got, want)
				}
			}
			// Both functions read the same application set: the folder in
			// the package when TenantMigrations names it, else the built-in.
			var wantSet any = ""
			if scenarios[name].values["TenantMigrations"] != "" {
				wantSet = map[string]any{"Fn::Sub": "/var/task/${TenantMigrations}"}
			}
			if got, ok := vars["TENANT_MIGRATIONS"]; !ok || !reflect.DeepEqual(got, wantSet) {
				t.Errorf("[%s] %s: TENANT_MIGRATIONS = %v, want %v", name, fn, got, wantSet)
			}
		}
	}
	params := tpl.parameters()
	if p := params["DatabaseAccess"]; !reflect.DeepEqual(p["AllowedValues"], []any{"direct", "data-api"}) || p["Default"] != "direct" {
		t.Errorf("DatabaseAccess allows %v (default %v), want direct (the default) and data-api", p["AllowedValues"], p["Default"])
	}
	// The one folder the Makefile packages (TestMakeBuildLambda), or none.
	if allowed := params["TenantMigrations"]["AllowedValues"]; !reflect.DeepEqual(allowed, []any{"", packagedMigrations}) || params["TenantMigrations"]["Default"] != "" {
		t.Errorf("TenantMigrations allows %v (default %q), want \"\" (the built-in set, the default) and %q (the folder in the package)",
			allowed, params["TenantMigrations"]["Default"], packagedMigrations)
	}
	if allowed, _ := params["AuthMode"]["AllowedValues"].([]any); slices.Contains(allowed, any("none")) {
		t.Error("AuthMode must not allow none: start-up refuses it off loopback")
	}
	// The function's own deadline must come before its timeout.
	timeout, err := time.ParseDuration(scalarString(params["RequestTimeout"]["Default"]))
	if err != nil {
		t.Fatalf("RequestTimeout default: %v", err)
	}
	if api := propsOf(tpl.resources()["ApiFunction"])["Timeout"]; timeout >= time.Duration(toFloat(api)*float64(time.Second)) {
		t.Errorf("RequestTimeout default %v is not below ApiFunction's timeout %v s", timeout, api)
	}
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(scalarString(v), 64)
	return f
}

// dataAPIActions are the RDS Data API calls the driver makes, sorted: with
// DatabaseAccess=data-api each function may make them on the cluster only.
var dataAPIActions = []string{
	"rds-data:BatchExecuteStatement", "rds-data:BeginTransaction", "rds-data:CommitTransaction",
	"rds-data:ExecuteStatement", "rds-data:RollbackTransaction",
}

// TestFunctionPolicies: the functions may read the named secrets and nothing
// else, and with DatabaseAccess=data-api call the Data API on the cluster;
// ApiFunction reads the owner's secret and the admin token only with the
// admin API on. With more databases (MoreDBSecretARNs, MoreDBClusterARNs)
// OpsFunction reads their owners' secrets, ApiFunction only with the admin
// API on, and with data-api both may call the Data API on
// their clusters, each grant a statement of its own.
//
// With direct, SAM builds each function's role from Policies and adds the
// basic execution, X-Ray and VPC access managed policies. SAM adds the VPC
// one whenever VpcConfig is present, even as an Fn::If that comes to
// AWS::NoValue, so with data-api each function has a role written out in the
// template instead, and SAM's must exist with direct only: SAM creates it
// under the condition of a Role Fn::If whose other branch is AWS::NoValue.
func TestFunctionPolicies(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	for _, fn := range tpl.resourcesOfType("AWS::Serverless::Function") {
		if role, ok := propsOf(tpl.resources()[fn])["Role"]; ok && !isConditionalRole(role) {
			t.Errorf("%s: Role %v; want an Fn::If with AWS::NoValue on one side, for SAM to build its role on that side", fn, role)
		}
	}
	params := tpl.parameters()
	for name, bad := range map[string][]string{
		"DBClusterARN": {"*"},
		"MoreDBClusterARNs": {"*", "arn:aws:rds:eu-west-1:123456789012:cluster:b,*",
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:b-AbCdEf"},
		"MoreDBSecretARNs": {"*", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:b-AbCdEf,*",
			"arn:aws:rds:eu-west-1:123456789012:cluster:b"},
	} {
		for _, v := range bad {
			if checkParameterValue(params[name], v) == nil {
				t.Errorf("%s accepts %q; its statements must name clusters or secrets, one by one", name, v)
			}
		}
	}
	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		admin := scenarios[name].conditions["AdminApiEnabled"]
		dataAPI := isDataAPI(t, scenarios[name])
		moreSecrets, moreClusters := moreDatabases(t, scenarios[name])
		want := map[string][]string{
			"ApiFunction": {"DBRuntimeSecretARN"},
			"OpsFunction": {"DBRuntimeSecretARN", "DBSecretARN"},
		}
		if admin {
			want["ApiFunction"] = []string{"AdminTokenSecretARN", "DBRuntimeSecretARN", "DBSecretARN"}
		}
		// The other databases' owners: OpsFunction always; ApiFunction for
		// the admin API only (the runtime role serves them with its own
		// secret, over connections or the Data API).
		if moreSecrets {
			want["OpsFunction"] = append(want["OpsFunction"], "MoreDBSecretARNs")
			if admin {
				want["ApiFunction"] = append(want["ApiFunction"], "MoreDBSecretARNs")
			}
		}
		wantDataAPI := map[string][]string{}
		if dataAPI {
			wantDataAPI["DBClusterARN"] = dataAPIActions
			if moreClusters {
				wantDataAPI["MoreDBClusterARNs"] = dataAPIActions
			}
		}
		roles := map[string]string{} // IAM role -> the function it serves
		for _, fn := range idsOfType(doc, "AWS::Serverless::Function") {
			props := propsOf(resourceOf(doc, fn))
			var g policyGrants
			if role, ok := props["Role"]; !dataAPI {
				if ok {
					t.Errorf("[%s] %s brings its own Role %v; with DatabaseAccess=direct let SAM build it from Policies", name, fn, role)
				}
				g = samPolicyGrants(props["Policies"])
			} else {
				getAtt, _ := role.(map[string]any)["Fn::GetAtt"].([]any)
				id, _ := getAtt[0].(string)
				if len(getAtt) != 2 || getAtt[1] != "Arn" || resourceOf(doc, id)["Type"] != "AWS::IAM::Role" {
					t.Errorf("[%s] %s: Role %v, want the Arn of an AWS::IAM::Role of the template", name, fn, role)
					continue
				}
				if other, shared := roles[id]; shared {
					t.Errorf("[%s] %s and %s share role %s; each needs its own secrets", name, other, fn, id)
				}
				roles[id] = fn
				g = dataAPIRoleGrants(propsOf(resourceOf(doc, id)))
			}
			for _, p := range g.problems {
				t.Errorf("[%s] %s: %s", name, fn, p)
			}
			if !slices.Equal(g.secrets, want[fn]) {
				t.Errorf("[%s] %s may read %v, want exactly %v", name, fn, g.secrets, want[fn])
			}
			if len(g.dataAPI) != 0 || len(wantDataAPI) != 0 {
				if !reflect.DeepEqual(g.dataAPI, wantDataAPI) {
					t.Errorf("[%s] %s may call the Data API %v (by cluster parameter), want exactly %v", name, fn, g.dataAPI, wantDataAPI)
				}
			}
		}
		for _, id := range idsOfType(doc, "AWS::IAM::Role") {
			if roles[id] == "" {
				t.Errorf("[%s] unexpected IAM role %s", name, id)
			}
		}
	}
}

// isConditionalRole reports whether a SAM function's Role is an Fn::If with
// AWS::NoValue on exactly one side: SAM then builds its own role from
// Policies under that side's condition.
func isConditionalRole(role any) bool {
	m, _ := role.(map[string]any)
	args, _ := m["Fn::If"].([]any)
	if len(m) != 1 || len(args) != 3 {
		return false
	}
	_, named := args[0].(string)
	noValue := ref("AWS::NoValue")
	return named && reflect.DeepEqual(args[1], noValue) != reflect.DeepEqual(args[2], noValue)
}

// policyGrants is what a function's policies allow: the parameters named by
// its secretsmanager:GetSecretValue statements (sorted), the actions of its
// rds-data statements by the cluster parameter each names, and anything else
// in them. A list parameter (MoreDBSecretARNs, MoreDBClusterARNs) must be
// the one resource of its statement: each grant on the more databases is a
// statement of its own.
type policyGrants struct {
	secrets []string
	// dataAPI maps the parameter each rds-data statement names as its one
	// resource to that statement's actions, sorted.
	dataAPI  map[string][]string
	problems []string
}

// samPolicyGrants reads a SAM Policies list: policy documents and the VPC
// access managed policy.
func samPolicyGrants(policies any) policyGrants {
	var g policyGrants
	list, ok := policies.([]any)
	if !ok {
		g.problems = append(g.problems, fmt.Sprintf("Policies must be a list, not %v", policies))
	}
	for _, p := range list {
		switch p := p.(type) {
		case string:
			if p != "AWSLambdaVPCAccessExecutionRole" {
				g.problems = append(g.problems, "managed policy "+p+" is not allowed")
			}
		case map[string]any:
			g.addStatements(p)
		default:
			g.problems = append(g.problems, fmt.Sprintf("policy %v is neither a managed policy name nor a document", p))
		}
	}
	return g
}

// dataAPIRoleGrants reads the properties of a function's own role: assumed
// by Lambda only, with the managed policies SAM would attach but the VPC
// access one, and inline policy documents.
func dataAPIRoleGrants(props map[string]any) policyGrants {
	var g policyGrants
	for k := range props {
		if !slices.Contains([]string{"Description", "AssumeRolePolicyDocument", "ManagedPolicyArns", "Policies"}, k) {
			g.problems = append(g.problems, fmt.Sprintf("role property %s is not expected", k))
		}
	}
	trust := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "lambda.amazonaws.com"},
			"Action":    "sts:AssumeRole",
		}},
	}
	if got := props["AssumeRolePolicyDocument"]; !reflect.DeepEqual(got, trust) {
		g.problems = append(g.problems, fmt.Sprintf("role trust policy %v, want Lambda's only: %v", got, trust))
	}
	managed := []any{
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"},
	}
	if got := props["ManagedPolicyArns"]; !reflect.DeepEqual(got, managed) {
		g.problems = append(g.problems, fmt.Sprintf("role managed policies %v, want basic execution and X-Ray only (no VPC access): %v", got, managed))
	}
	list, _ := props["Policies"].([]any)
	if len(list) == 0 {
		g.problems = append(g.problems, "role has no inline Policies")
	}
	for _, p := range list {
		pm, _ := p.(map[string]any)
		doc, _ := pm["PolicyDocument"].(map[string]any)
		if len(pm) != 2 || pm["PolicyName"] == nil || doc == nil {
			g.problems = append(g.problems, fmt.Sprintf("role policy %v is not a PolicyName and a PolicyDocument", p))
			continue
		}
		g.addStatements(doc)
	}
	return g
}

// addStatements reads a policy document's statements: Allow statements of
// secretsmanager:GetSecretValue on Refs to secret parameters, or of rds-data
// actions, and no wildcard action.
func (g *policyGrants) addStatements(doc map[string]any) {
	statements, ok := doc["Statement"].([]any)
	if !ok {
		g.problems = append(g.problems, fmt.Sprintf("policy %v is not a policy document with a Statement list", doc))
		return
	}
	for _, st := range statements {
		sm, _ := st.(map[string]any)
		for k := range sm {
			if !slices.Contains([]string{"Sid", "Effect", "Action", "Resource"}, k) {
				g.problems = append(g.problems, fmt.Sprintf("statement key %s is not allowed", k))
			}
		}
		if sm["Effect"] != "Allow" {
			g.problems = append(g.problems, fmt.Sprintf("statement effect %v", sm["Effect"]))
		}
		actionList, ok := sm["Action"].([]any)
		if !ok {
			actionList = []any{sm["Action"]}
		}
		var actions []string
		for _, a := range actionList {
			s, _ := a.(string)
			if s == "" || strings.Contains(s, "*") {
				g.problems = append(g.problems, fmt.Sprintf("action %v is not one named action", a))
			}
			actions = append(actions, s)
		}
		resources, ok := sm["Resource"].([]any)
		if !ok {
			resources = []any{sm["Resource"]}
		}
		switch {
		case slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}):
			for _, r := range resources {
				rm, _ := r.(map[string]any)
				name, _ := rm["Ref"].(string)
				switch {
				case len(rm) == 1 && strings.HasSuffix(name, "SecretARN"):
				case len(rm) == 1 && strings.HasSuffix(name, "SecretARNs") && len(resources) == 1:
				case len(rm) == 1 && strings.HasSuffix(name, "SecretARNs"):
					g.problems = append(g.problems, fmt.Sprintf("list %s shares its statement with %v; give it one of its own", name, resources))
					continue
				default:
					g.problems = append(g.problems, fmt.Sprintf("resource %v is not a Ref to a secret parameter", r))
					continue
				}
				if !slices.Contains(g.secrets, name) {
					g.secrets = append(g.secrets, name)
				}
			}
		case len(actions) > 0 && !slices.ContainsFunc(actions, func(a string) bool { return !strings.HasPrefix(a, "rds-data:") }):
			rm, _ := sm["Resource"].(map[string]any)
			name, _ := rm["Ref"].(string)
			if len(rm) != 1 || !strings.HasSuffix(name, "ClusterARN") && !strings.HasSuffix(name, "ClusterARNs") {
				g.problems = append(g.problems, fmt.Sprintf("rds-data resource %v is not one Ref to a cluster parameter", sm["Resource"]))
				continue
			}
			if _, dup := g.dataAPI[name]; dup {
				g.problems = append(g.problems, fmt.Sprintf("two rds-data statements on %s", name))
			}
			if g.dataAPI == nil {
				g.dataAPI = map[string][]string{}
			}
			g.dataAPI[name] = slices.Sorted(slices.Values(actions))
		default:
			g.problems = append(g.problems, fmt.Sprintf("actions %v; only secretsmanager:GetSecretValue or rds-data actions are allowed", sm["Action"]))
		}
	}
	sort.Strings(g.secrets)
}

// TestDatabaseAccessVariants: DatabaseAccess changes the functions' network,
// role and connection variables and adds their Data API roles, and nothing
// else in the rendered template; with direct those places keep the values
// they had before the parameter existed (no VpcConfig change, no Role, no
// DB_DRIVER, no IAM role: TestFunctions, TestFunctionEnvironment and
// TestFunctionPolicies), so a stack deployed before it stays as it is.
func TestDatabaseAccessVariants(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	var want []string
	for _, fn := range []string{"ApiFunction", "OpsFunction"} {
		props := "Resources." + fn + ".Properties."
		want = append(want, props+"VpcConfig", props+"Role", "Resources."+fn+"DataApiRole")
		for _, v := range append(slices.Collect(maps.Keys(directEnv)), "DB_DRIVER") {
			want = append(want, props+"Environment.Variables."+v)
		}
	}
	sort.Strings(want)
	// The rendered template by the values of the other parameters.
	direct, dataAPI := map[string]map[string]any{}, map[string]map[string]any{}
	names := map[string]string{} // the direct scenario's name
	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		key := otherValues(scenarios[name], "DatabaseAccess")
		if isDataAPI(t, scenarios[name]) {
			dataAPI[key] = doc
		} else {
			direct[key], names[key] = doc, name
		}
	}
	if len(direct) == 0 || len(direct) != len(dataAPI) {
		t.Fatalf("%d direct and %d data-api scenarios, want as many of each", len(direct), len(dataAPI))
	}
	for key, d := range direct {
		got := differences("", d, dataAPI[key])
		if sort.Strings(got); !slices.Equal(got, want) {
			t.Errorf("[%s] direct and data-api differ at %v, want exactly %v", names[key], got, want)
		}
	}
}

// moreDBParams are template.yaml's parameters that name more databases.
var moreDBParams = []string{"MoreDBClusterARNs", "MoreDBSecretARNs"}

// TestMoreDatabasesChangeNothingByDefault: the more databases' parameters are
// used only in policy statements of their own, each an Fn::If whose other
// side is AWS::NoValue under a condition that is false while its list is
// empty. So with both lists empty (the defaults) the rendered template names
// neither, and is the one rendered before they existed: a deployed stack
// stays as it is. Naming more databases changes exactly the policies that
// grant on them: OpsFunction's, ApiFunction's with the admin API on, and
// both Data API roles with DatabaseAccess=data-api (the clusters' only
// there).
func TestMoreDatabasesChangeNothingByDefault(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	scenarios := tpl.scenarios(t)
	mentions := func(v any) (names []string) {
		walk(v, func(e any) {
			if m, ok := e.(map[string]any); ok {
				if n, _ := m["Ref"].(string); slices.Contains(moreDBParams, n) && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		})
		return names
	}
	// Where the template names them: statements under Fn::If only (no
	// variable, no other property).
	statements := 0
	for id, r := range tpl.resources() {
		var check func(path string, v any)
		check = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if n, _ := v["Ref"].(string); slices.Contains(moreDBParams, n) {
					t.Errorf("%s names %s outside a policy statement", path, n)
				}
				if list, ok := v["Statement"].([]any); ok {
					for i, st := range list {
						names := mentions(st)
						if len(names) == 0 {
							continue
						}
						statements++
						where := fmt.Sprintf("%s.Statement[%d]", path, i)
						args, _ := st.(map[string]any)["Fn::If"].([]any)
						if len(args) != 3 || !reflect.DeepEqual(args[2], ref("AWS::NoValue")) {
							t.Errorf("%s: a statement on %v must be !If [condition, statement, !Ref AWS::NoValue]", where, names)
							continue
						}
						cond, _ := args[0].(string)
						for _, s := range scenarios {
							for _, n := range names {
								if s.values[n] == "" && s.conditions[cond] {
									t.Errorf("%s: condition %s holds with %s empty [%s]", where, cond, n, s.name)
								}
							}
						}
						body, _ := args[1].(map[string]any)
						if len(names) != 1 || !reflect.DeepEqual(body["Resource"], ref(names[0])) {
							t.Errorf("%s: Resource %v; a statement on the more databases has that list as its only resource", where, body["Resource"])
						}
					}
				}
				for k, e := range v {
					if _, isPolicy := v["Statement"].([]any); isPolicy && k == "Statement" {
						continue // checked above
					}
					check(path+"."+k, e)
				}
			case []any:
				for i, e := range v {
					check(fmt.Sprintf("%s[%d]", path, i), e)
				}
			}
		}
		check("Resources."+id, r)
	}
	if statements == 0 {
		t.Fatal("no policy statement names the more databases")
	}
	if names := mentions(tpl.section("Outputs")); len(names) > 0 {
		t.Errorf("outputs name %v", names)
	}
	// Rendered: nothing with the lists empty; exactly the granting policies
	// with them set.
	byOthers := map[string]map[string]any{} // the rendering with both lists empty, by the other values
	docs := map[string]map[string]any{}
	for _, s := range scenarios {
		doc, err := tpl.resolved(s, symbolic)
		if err != nil {
			t.Fatal(err)
		}
		docs[s.name] = doc
		if s.values["MoreDBSecretARNs"] == "" && s.values["MoreDBClusterARNs"] == "" {
			if names := mentions([]any{doc["Resources"], doc["Outputs"]}); len(names) > 0 {
				t.Errorf("[%s] the rendered template names %v with both lists empty", s.name, names)
			}
			byOthers[otherValues(s, moreDBParams...)] = doc
		}
	}
	for _, s := range scenarios {
		base := byOthers[otherValues(s, moreDBParams...)]
		if base == nil {
			t.Fatalf("[%s] no scenario with the same values and both lists empty", s.name)
		}
		dataAPI := isDataAPI(t, s)
		secrets, clusters := moreDatabases(t, s)
		var want []string
		if secrets {
			want = append(want, "Resources.OpsFunction.Properties.Policies")
			if s.conditions["AdminApiEnabled"] {
				want = append(want, "Resources.ApiFunction.Properties.Policies")
			}
		}
		if dataAPI && (secrets || clusters) {
			want = append(want, "Resources.OpsFunctionDataApiRole.Properties.Policies")
		}
		if dataAPI && (clusters || secrets && s.conditions["AdminApiEnabled"]) {
			want = append(want, "Resources.ApiFunctionDataApiRole.Properties.Policies")
		}
		sort.Strings(want)
		got := differences("", base, docs[s.name])
		if sort.Strings(got); !slices.Equal(got, want) {
			t.Errorf("[%s] differs from the same values with both lists empty at %v, want exactly %v", s.name, got, want)
		}
	}
}

// otherValues is a key for s's values but the named parameters'.
func otherValues(s scenario, except ...string) string {
	others := maps.Clone(s.values)
	for _, name := range except {
		delete(others, name)
	}
	return fmt.Sprint(others) // fmt prints map keys sorted
}

// differences lists the paths (keys joined by dots) at which two rendered
// templates differ: a key that one mapping has and the other lacks, or
// values that are not mappings on both sides and are not equal.
func differences(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if reflect.DeepEqual(a, b) {
			return nil
		}
		return []string{path}
	}
	var out []string
	keys := slices.Collect(maps.Keys(am))
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if path != "" {
			p = path + "." + k
		}
		av, inA := am[k]
		bv, inB := bm[k]
		if inA != inB {
			out = append(out, p)
			continue
		}
		out = append(out, differences(p, av, bv)...)
	}
	return out
}

// TestFunctions checks the build, runtime and network settings of both
// functions.
func TestFunctions(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	fns := tpl.resourcesOfType("AWS::Serverless::Function")
	if !slices.Equal(fns, []string{"ApiFunction", "OpsFunction"}) {
		t.Fatalf("functions %v, want ApiFunction and OpsFunction", fns)
	}
	params := tpl.parameters()
	for _, fn := range fns {
		r := tpl.resources()[fn]
		p := propsOf(r)
		meta, _ := r["Metadata"].(map[string]any)
		for key, want := range map[string]any{
			"Runtime":       "provided.al2023",
			"Architectures": []any{"arm64"},
			"Handler":       "bootstrap",
			"CodeUri":       ".",
			"Tracing":       "Active",
		} {
			if !reflect.DeepEqual(p[key], want) {
				t.Errorf("%s: %s = %v, want %v", fn, key, p[key], want)
			}
		}
		if meta["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", fn, meta["BuildMethod"])
		}
		if !regexp.MustCompile(`(?m)^build-` + fn + `:`).Match(makefile) {
			t.Errorf("the Makefile has no target build-%s (sam build runs it)", fn)
		}
		if events, ok := p["Events"]; ok {
			t.Errorf("%s has SAM events %v; the REST API is wired with plain resources", fn, events)
		}
	}
	// In the VPC with DatabaseAccess=direct, outside it with data-api.
	directVpc := map[string]any{
		"SubnetIds":        ref("SubnetIds"),
		"SecurityGroupIds": []any{ref("LambdaSecurityGroupId")},
	}
	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		dataAPI := isDataAPI(t, scenarios[name])
		for _, fn := range fns {
			got, ok := propsOf(resourceOf(doc, fn))["VpcConfig"]
			if dataAPI && ok {
				t.Errorf("[%s] %s: VpcConfig %v; with the Data API the function runs outside the VPC", name, fn, got)
			} else if !dataAPI && !reflect.DeepEqual(got, directVpc) {
				t.Errorf("[%s] %s: VpcConfig = %v, want %v", name, fn, got, directVpc)
			}
		}
	}
	api := propsOf(tpl.resources()["ApiFunction"])
	if timeout, ok := api["Timeout"].(int); !ok || timeout >= 29 || timeout < 1 {
		t.Errorf("ApiFunction Timeout = %v, want a number under API Gateway's 29 s", api["Timeout"])
	}
	rc, _ := api["ReservedConcurrentExecutions"].(map[string]any)
	if name, _ := rc["Ref"].(string); params[name]["Type"] != "Number" {
		t.Errorf("ApiFunction ReservedConcurrentExecutions = %v, want a Ref to a Number parameter", api["ReservedConcurrentExecutions"])
	}
	if ops := propsOf(tpl.resources()["OpsFunction"]); ops["Timeout"] != 900 {
		t.Errorf("OpsFunction Timeout = %v, want 900", ops["Timeout"])
	}
}

// TestRestAPI checks the REST API: every route goes to ApiFunction, CORS
// preflight is left to the function (no API key, no authorizer on OPTIONS),
// API keys follow EnableApiKeys, the stage throttles and never caches, and
// the deployment is replaced whenever the API definition changes.
func TestRestAPI(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	params := tpl.parameters()
	for _, id := range tpl.resourcesOfType("AWS::Serverless::Api") {
		// Not used today; if it comes back it must keep these settings.
		p := propsOf(tpl.resources()[id])
		auth, _ := p["Auth"].(map[string]any)
		for _, k := range []string{"AddDefaultAuthorizerToCorsPreflight", "AddApiKeyRequiredToCorsPreflight"} {
			if auth[k] != false {
				t.Errorf("%s: Auth.%s = %v, want false", id, k, auth[k])
			}
		}
		if p["CacheClusterEnabled"] != false {
			t.Errorf("%s: CacheClusterEnabled = %v, want false", id, p["CacheClusterEnabled"])
		}
	}
	apis := tpl.resourcesOfType("AWS::ApiGateway::RestApi")
	if len(apis) != 1 {
		t.Fatalf("REST APIs %v, want one", apis)
	}
	api := apis[0]
	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		keys := scenarios[name].values["EnableApiKeys"] == "true"
		seen := map[string]bool{}
		for _, id := range idsOfType(doc, "AWS::ApiGateway::Method") {
			p := propsOf(resourceOf(doc, id))
			method, _ := p["HttpMethod"].(string)
			var where string
			switch rid := p["ResourceId"]; {
			case reflect.DeepEqual(rid, map[string]any{"Fn::GetAtt": []any{api, "RootResourceId"}}):
				where = "/"
			default:
				rm, _ := rid.(map[string]any)
				r := propsOf(resourceOf(doc, fmt.Sprint(rm["Ref"])))
				where = fmt.Sprint(r["PathPart"])
			}
			seen[method+" "+where] = true
			if p["AuthorizationType"] != "NONE" || p["AuthorizerId"] != nil {
				t.Errorf("[%s] %s: authorization %v/%v, want NONE (the function authenticates)", name, id, p["AuthorizationType"], p["AuthorizerId"])
			}
			wantKey := keys && method != "OPTIONS"
			if got, _ := p["ApiKeyRequired"].(bool); got != wantKey {
				t.Errorf("[%s] %s (%s %s): ApiKeyRequired = %v, want %v", name, id, method, where, p["ApiKeyRequired"], wantKey)
			}
			in, _ := p["Integration"].(map[string]any)
			uri, _ := in["Uri"].(map[string]any)
			if in["Type"] != "AWS_PROXY" || in["IntegrationHttpMethod"] != "POST" || !strings.Contains(fmt.Sprint(uri["Fn::Sub"]), "${ApiFunction.Arn}") {
				t.Errorf("[%s] %s: integration %v is not a Lambda proxy to ApiFunction", name, id, in)
			}
			if ms, ok := in["TimeoutInMillis"].(int); ok && ms > 29000 {
				t.Errorf("[%s] %s: TimeoutInMillis %d over 29000", name, id, ms)
			}
		}
		for _, route := range []string{"ANY /", "OPTIONS /", "ANY {proxy+}", "OPTIONS {proxy+}"} {
			if !seen[route] {
				t.Errorf("[%s] no method %s", name, route)
			}
		}
	}

	// The Lambda permission lets only this API invoke ApiFunction.
	perms := tpl.resourcesOfType("AWS::Lambda::Permission")
	if len(perms) != 1 {
		t.Fatalf("Lambda permissions %v, want one", perms)
	}
	perm := propsOf(tpl.resources()[perms[0]])
	src, _ := perm["SourceArn"].(map[string]any)
	if perm["Principal"] != "apigateway.amazonaws.com" || !strings.Contains(fmt.Sprint(src["Fn::Sub"]), "${"+api+"}/") ||
		!reflect.DeepEqual(perm["FunctionName"], map[string]any{"Fn::GetAtt": []any{"ApiFunction", "Arn"}}) {
		t.Errorf("permission %v must let API %s invoke ApiFunction", perm, api)
	}

	// The stage: throttled from parameters, traced, never cached.
	stages := tpl.resourcesOfType("AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		t.Fatalf("stages %v, want one", stages)
	}
	stage := propsOf(tpl.resources()[stages[0]])
	if stage["CacheClusterEnabled"] != false || stage["TracingEnabled"] != true {
		t.Errorf("stage: CacheClusterEnabled %v, TracingEnabled %v; want false, true", stage["CacheClusterEnabled"], stage["TracingEnabled"])
	}
	settings, _ := stage["MethodSettings"].([]any)
	throttled := false
	for _, s := range settings {
		sm, _ := s.(map[string]any)
		if sm["CachingEnabled"] == true {
			t.Errorf("stage method setting %v caches", sm)
		}
		if sm["ResourcePath"] != "/*" || sm["HttpMethod"] != "*" {
			continue
		}
		burst, _ := sm["ThrottlingBurstLimit"].(map[string]any)
		rate, _ := sm["ThrottlingRateLimit"].(map[string]any)
		if params[fmt.Sprint(burst["Ref"])]["Type"] == "Number" && params[fmt.Sprint(rate["Ref"])]["Type"] == "Number" {
			throttled = true
		}
	}
	if !throttled {
		t.Errorf("stage MethodSettings %v: want /* * with ThrottlingBurstLimit and ThrottlingRateLimit from Number parameters", settings)
	}

	// The deployments: one per value of EnableApiKeys, named after a hash of
	// the API definition, depending on every method and gateway response.
	hash := apiDefinitionHash(tpl)
	want := map[string]string{
		"ApiDeploymentWithKeys" + hash: "ApiKeysEnabled",
		"ApiDeploymentNoKeys" + hash:   "ApiKeysDisabled",
	}
	deployments := tpl.resourcesOfType("AWS::ApiGateway::Deployment")
	var wantIDs []string
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	if !slices.Equal(deployments, wantIDs) {
		t.Fatalf("deployments %v, want %v: the methods or gateway responses changed, so rename the deployments "+
			"(and the Refs to them in %s) for CloudFormation to make a new deployment", deployments, wantIDs, stages[0])
	}
	var members []string
	members = append(members, tpl.resourcesOfType("AWS::ApiGateway::Method")...)
	members = append(members, tpl.resourcesOfType("AWS::ApiGateway::GatewayResponse")...)
	sort.Strings(members)
	for id, cond := range want {
		r := tpl.resources()[id]
		if r["Condition"] != cond {
			t.Errorf("%s: Condition %v, want %s", id, r["Condition"], cond)
		}
		var deps []string
		if l, ok := r["DependsOn"].([]any); ok {
			for _, d := range l {
				deps = append(deps, fmt.Sprint(d))
			}
		}
		sort.Strings(deps)
		if !slices.Equal(deps, members) {
			t.Errorf("%s: DependsOn %v, want every method and gateway response %v", id, deps, members)
		}
	}
	if got, wantDep := stage["DeploymentId"], map[string]any{"Fn::If": []any{"ApiKeysEnabled", ref("ApiDeploymentWithKeys" + hash), ref("ApiDeploymentNoKeys" + hash)}}; !reflect.DeepEqual(got, wantDep) {
		t.Errorf("stage DeploymentId = %v, want %v", got, wantDep)
	}
	cond, _ := tpl.section("Conditions")["ApiKeysDisabled"].(map[string]any)
	if !reflect.DeepEqual(cond, map[string]any{"Fn::Not": []any{map[string]any{"Condition": "ApiKeysEnabled"}}}) {
		t.Errorf("ApiKeysDisabled = %v, want the negation of ApiKeysEnabled", cond)
	}

	// Usage plans per tier, only with API keys, on this API's stage.
	plans := tpl.resourcesOfType("AWS::ApiGateway::UsagePlan")
	if len(plans) < 2 {
		t.Errorf("usage plans %v, want one per tier (at least two)", plans)
	}
	for _, id := range plans {
		r := tpl.resources()[id]
		if r["Condition"] != "ApiKeysEnabled" {
			t.Errorf("usage plan %s: Condition %v, want ApiKeysEnabled", id, r["Condition"])
		}
		wantStages := []any{map[string]any{"ApiId": ref(api), "Stage": ref(stages[0])}}
		if got := propsOf(r)["ApiStages"]; !reflect.DeepEqual(got, wantStages) {
			t.Errorf("usage plan %s: ApiStages %v, want %v", id, got, wantStages)
		}
		throttle, _ := propsOf(r)["Throttle"].(map[string]any)
		if throttle["RateLimit"] == nil || throttle["BurstLimit"] == nil {
			t.Errorf("usage plan %s has no throttle", id)
		}
	}
}

// apiDefinitionHash is a hash of what an API Gateway deployment snapshots:
// the REST API, its resources, methods and gateway responses as written.
func apiDefinitionHash(tpl *cfnTemplate) string {
	defs := map[string]any{}
	for id, r := range tpl.resources() {
		switch r["Type"] {
		case "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method", "AWS::ApiGateway::GatewayResponse":
			defs[id] = r
		}
	}
	b, err := json.Marshal(defs) // map keys come out sorted
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// TestGatewayResponses: API Gateway's own errors answer like the service
// (SPEC §4): problem+json with a code that fits the status, X-Request-ID,
// and Retry-After on 429 and 503.
func TestGatewayResponses(t *testing.T) {
	tpl := loadTemplate(t, samPath)
	byType := map[string]map[string]any{}
	for _, id := range tpl.resourcesOfType("AWS::ApiGateway::GatewayResponse") {
		p := propsOf(tpl.resources()[id])
		typ := fmt.Sprint(p["ResponseType"])
		if byType[typ] != nil {
			t.Errorf("gateway response %s defined twice", typ)
		}
		byType[typ] = p
		if _, ok := p["Condition"]; ok {
			t.Errorf("%s is conditional", id)
		}
		status, err := strconv.Atoi(fmt.Sprint(p["StatusCode"]))
		if err != nil {
			t.Errorf("%s: StatusCode %v, want a fixed status", id, p["StatusCode"])
			continue
		}
		headers, _ := p["ResponseParameters"].(map[string]any)
		if got := headers["gatewayresponse.header.Content-Type"]; got != "'application/problem+json'" {
			t.Errorf("%s: Content-Type %v, want 'application/problem+json'", id, got)
		}
		if got := headers["gatewayresponse.header.X-Request-ID"]; got != "context.requestId" {
			t.Errorf("%s: X-Request-ID %v, want context.requestId", id, got)
		}
		retry, hasRetry := headers["gatewayresponse.header.Retry-After"].(string)
		if wantRetry := status == 429 || status == 503; hasRetry != wantRetry {
			t.Errorf("%s: status %d with Retry-After %q", id, status, retry)
		} else if hasRetry && !regexp.MustCompile(`^'[1-9][0-9]*'$`).MatchString(retry) {
			t.Errorf("%s: Retry-After %q is not a quoted number of seconds", id, retry)
		}
		templates, _ := p["ResponseTemplates"].(map[string]any)
		if len(templates) != 1 || templates["application/json"] == nil {
			t.Errorf("%s: ResponseTemplates %v, want one application/json template", id, templates)
			continue
		}
		body := regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllString(fmt.Sprint(templates["application/json"]), "x")
		var problem struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
			Code   string `json:"code"`
		}
		if err := json.Unmarshal([]byte(body), &problem); err != nil {
			t.Errorf("%s: template is not JSON: %v", id, err)
			continue
		}
		if problemStatus[problem.Code] != status || problem.Status != status {
			t.Errorf("%s: status %d with body status %d and code %q (SPEC: %d)", id, status, problem.Status, problem.Code, problemStatus[problem.Code])
		}
		if problem.Type != "https://tenantapi.dev/problems/"+problem.Code || problem.Title == "" || problem.Detail == "" {
			t.Errorf("%s: problem %+v lacks a type, title or detail", id, problem)
		}
	}
	for typ, want := range map[string]struct {
		status int
		code   string
	}{
		"THROTTLED":               {429, "rate-limited"},
		"QUOTA_EXCEEDED":          {429, "rate-limited"},
		"DEFAULT_4XX":             {400, "invalid-query"},
		"DEFAULT_5XX":             {500, "internal"},
		"UNAUTHORIZED":            {401, "unauthorized"},
		"ACCESS_DENIED":           {403, "forbidden"},
		"INVALID_API_KEY":         {403, "forbidden"},
		"API_CONFIGURATION_ERROR": {500, "internal"},
		"INTEGRATION_TIMEOUT":     {503, "unavailable"},
		"INTEGRATION_FAILURE":     {503, "unavailable"},
		"REQUEST_TOO_LARGE":       {413, "payload-too-large"},
	} {
		p := byType[typ]
		if p == nil {
			t.Errorf("no gateway response %s", typ)
			continue
		}
		templates, _ := p["ResponseTemplates"].(map[string]any)
		if fmt.Sprint(p["StatusCode"]) != strconv.Itoa(want.status) || !strings.Contains(fmt.Sprint(templates["application/json"]), `"code":"`+want.code+`"`) {
			t.Errorf("%s: want %d %s", typ, want.status, want.code)
		}
	}
}

// TestAuroraCluster checks the database stack's promises (SPEC §9).
func TestAuroraCluster(t *testing.T) {
	tpl := loadTemplate(t, auroraPath)
	params := tpl.parameters()
	if params["VpcId"]["Type"] != "AWS::EC2::VPC::Id" || params["SubnetIds"]["Type"] != "List<AWS::EC2::Subnet::Id>" {
		t.Errorf("VpcId and SubnetIds parameters: %v, %v", params["VpcId"]["Type"], params["SubnetIds"]["Type"])
	}
	for _, name := range auroraFed {
		if _, ok := tpl.section("Outputs")[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}

	// Engine version: 16.x, at or above 16.3 (scale to 0 ACU; Data API).
	ev := params["EngineVersion"]
	if err := checkParameterValue(ev, scalarString(ev["Default"])); err != nil {
		t.Errorf("EngineVersion default: %v", err)
	}
	for v, ok := range map[string]bool{"16.3": true, "16.6": true, "16.12": true, "16.1": false, "16.2": false, "15.7": false, "17.4": false, "16": false, "16.3.1": false} {
		if err := checkParameterValue(ev, v); (err == nil) != ok {
			t.Errorf("EngineVersion %s accepted = %v, want %v", v, err == nil, ok)
		}
	}
	// MinCapacity 0 only as an opt-in.
	minCap := params["MinCapacity"]
	if minCap["Type"] != "Number" || toFloat(minCap["Default"]) < 0.5 || checkParameterValue(minCap, "0") != nil {
		t.Errorf("MinCapacity %v: want a Number defaulting to 0.5 or more that allows 0", minCap)
	}

	scenarios := scenarioByName(t, tpl)
	for name, doc := range resolvedAll(t, tpl) {
		s := scenarios[name]
		clusters := idsOfType(doc, "AWS::RDS::DBCluster")
		if len(clusters) != 1 {
			t.Fatalf("[%s] clusters %v, want one", name, clusters)
		}
		cluster := resourceOf(doc, clusters[0])
		cp := propsOf(cluster)
		for key, want := range map[string]any{
			"Engine":                      "aurora-postgresql",
			"EngineMode":                  "provisioned",
			"EngineVersion":               ref("EngineVersion"),
			"DatabaseName":                ref("DBName"),
			"StorageEncrypted":            true,
			"ManageMasterUserPassword":    true,
			"EnableHttpEndpoint":          true, // the Data API (DatabaseAccess=data-api)
			"DBClusterParameterGroupName": ref("DBClusterParameterGroup"),
			"DeletionProtection":          s.values["DeletionProtection"] == "true",
			"ServerlessV2ScalingConfiguration": map[string]any{
				"MinCapacity": ref("MinCapacity"),
				"MaxCapacity": ref("MaxCapacity"),
			},
		} {
			if !reflect.DeepEqual(cp[key], want) {
				t.Errorf("[%s] cluster %s = %v, want %v", name, key, cp[key], want)
			}
		}
		// Logical replication, for online tenant moves, and prepared
		// transactions, for the write hold of a move out of the cluster
		// (postgres.MoveTenant holds it in one where the source's
		// max_prepared_transactions > 0), on a parameter group of the
		// engine's family: both are cluster-level parameters on Aurora.
		pg := propsOf(resourceOf(doc, "DBClusterParameterGroup"))
		wantParams := map[string]any{"rds.logical_replication": "1", "max_prepared_transactions": "20"}
		if pg["Family"] != "aurora-postgresql16" || !reflect.DeepEqual(pg["Parameters"], wantParams) {
			t.Errorf("[%s] cluster parameter group %v: want aurora-postgresql16 with %v", name, pg, wantParams)
		}
		if _, ok := cp["MasterUserPassword"]; ok {
			t.Errorf("[%s] cluster has a MasterUserPassword; RDS manages it", name)
		}
		if cluster["DeletionPolicy"] != "Snapshot" {
			t.Errorf("[%s] cluster DeletionPolicy %v, want Snapshot", name, cluster["DeletionPolicy"])
		}

		instances := idsOfType(doc, "AWS::RDS::DBInstance")
		if len(instances) != 1 {
			t.Fatalf("[%s] instances %v, want one writer", name, instances)
		}
		ip := propsOf(resourceOf(doc, instances[0]))
		for key, want := range map[string]any{
			"DBClusterIdentifier": ref(clusters[0]),
			"DBInstanceClass":     "db.serverless",
			"Engine":              "aurora-postgresql",
			"PubliclyAccessible":  false,
		} {
			if !reflect.DeepEqual(ip[key], want) {
				t.Errorf("[%s] writer %s = %v, want %v", name, key, ip[key], want)
			}
		}

		// The runtime role's secret: a generated password for a fixed user.
		outputs, _ := doc["Outputs"].(map[string]any)
		rs, _ := outputs["DBRuntimeSecretARN"].(map[string]any)
		secretRef, _ := rs["Value"].(map[string]any)
		secret := resourceOf(doc, fmt.Sprint(secretRef["Ref"]))
		gen, _ := propsOf(secret)["GenerateSecretString"].(map[string]any)
		if secret["Type"] != "AWS::SecretsManager::Secret" || gen["GenerateStringKey"] != "password" ||
			!strings.Contains(fmt.Sprint(gen["SecretStringTemplate"]), `"username"`) {
			t.Errorf("[%s] DBRuntimeSecretARN must be a generated secret with username and password: %v", name, secret)
		}
		// The cluster's own ARN: template.yaml's DatabaseAccess=data-api
		// sends the Data API there and allows rds-data on it only.
		co, _ := outputs["DBClusterARN"].(map[string]any)
		if !reflect.DeepEqual(co["Value"], map[string]any{"Fn::GetAtt": []any{clusters[0], "DBClusterArn"}}) {
			t.Errorf("[%s] DBClusterARN output %v, want the cluster's DBClusterArn", name, co["Value"])
		}
		so, _ := outputs["DBSecretARN"].(map[string]any)
		if !reflect.DeepEqual(so["Value"], map[string]any{"Fn::GetAtt": []any{clusters[0], "MasterUserSecret.SecretArn"}}) {
			t.Errorf("[%s] DBSecretARN output %v, want the RDS-managed master secret", name, so["Value"])
		}

		// The database admits 5432 from the Lambda security group only.
		sgs, _ := cp["VpcSecurityGroupIds"].([]any)
		if len(sgs) != 1 {
			t.Fatalf("[%s] cluster security groups %v, want one", name, sgs)
		}
		dbSG := fmt.Sprint(sgs[0].(map[string]any)["Fn::GetAtt"].([]any)[0])
		lambdaSG := map[string]any{"Fn::GetAtt": []any{"LambdaSecurityGroup", "GroupId"}}
		ingress, _ := propsOf(resourceOf(doc, dbSG))["SecurityGroupIngress"].([]any)
		for _, id := range idsOfType(doc, "AWS::EC2::SecurityGroupIngress") {
			p := propsOf(resourceOf(doc, id))
			if reflect.DeepEqual(p["GroupId"], sgs[0]) {
				ingress = append(ingress, p)
			}
		}
		if len(ingress) == 0 {
			t.Errorf("[%s] the database security group admits nothing", name)
		}
		for _, rule := range ingress {
			rm, _ := rule.(map[string]any)
			if rm["IpProtocol"] != "tcp" || rm["FromPort"] != 5432 || rm["ToPort"] != 5432 ||
				!reflect.DeepEqual(rm["SourceSecurityGroupId"], lambdaSG) || rm["CidrIp"] != nil || rm["CidrIpv6"] != nil {
				t.Errorf("[%s] database ingress %v: want tcp 5432 from LambdaSecurityGroup only", name, rm)
			}
		}
		if got := outputs["LambdaSecurityGroupId"].(map[string]any)["Value"]; !reflect.DeepEqual(got, lambdaSG) {
			t.Errorf("[%s] LambdaSecurityGroupId output %v, want %v", name, got, lambdaSG)
		}

		// The Secrets Manager endpoint with private DNS (unless opted out).
		endpoints := idsOfType(doc, "AWS::EC2::VPCEndpoint")
		if want := s.values["CreateSecretsManagerEndpoint"] == "true"; want != (len(endpoints) == 1) {
			t.Errorf("[%s] endpoints %v", name, endpoints)
		}
		for _, id := range endpoints {
			p := propsOf(resourceOf(doc, id))
			svc, _ := p["ServiceName"].(map[string]any)
			if p["VpcEndpointType"] != "Interface" || p["PrivateDnsEnabled"] != true ||
				svc["Fn::Sub"] != "com.amazonaws.${AWS::Region}.secretsmanager" {
				t.Errorf("[%s] endpoint %s: %v", name, id, p)
			}
		}
	}
	if d := params["CreateSecretsManagerEndpoint"]["Default"]; d != "true" {
		t.Errorf("CreateSecretsManagerEndpoint default %v, want true", d)
	}
	if d := params["DeletionProtection"]["Default"]; d != "true" {
		t.Errorf("DeletionProtection default %v, want true", d)
	}
}

// makeIn runs make in the project folder, as sam build does, with neither
// ARTIFACTS_DIR nor TENANT_MIGRATIONS_DIR taken from the test's environment.
func makeIn(args ...string) ([]byte, error) {
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "ARTIFACTS_DIR=") || strings.HasPrefix(e, "TENANT_MIGRATIONS_DIR=")
	})
	return cmd.CombinedOutput()
}

// packagedFiles returns the files of dir with their contents and modes.
func packagedFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%v %s", fi.Mode(), b)
	}
	return out
}

// TestMakeBuildLambda runs the Makefile targets that sam build runs and checks
// that they leave a static linux/arm64 bootstrap built with lambda.norpc, and
// next to it the application set of TENANT_MIGRATIONS_DIR.
func TestMakeBuildLambda(t *testing.T) {
	t.Run("ARTIFACTS_DIR required", func(t *testing.T) {
		out, err := makeIn("build-ApiFunction", "ARTIFACTS_DIR=")
		if err == nil || !strings.Contains(string(out), "ARTIFACTS_DIR is not set") {
			t.Errorf("make build-ApiFunction without ARTIFACTS_DIR: err %v, output:\n%s", err, out)
		}
	})

	sources, err := filepath.Glob("../cmd/tenantapi/*.go")
	if err != nil {
		t.Fatal(err)
	}
	sources = slices.DeleteFunc(sources, func(s string) bool { return strings.HasSuffix(s, "_test.go") })
	if len(sources) == 0 {
		t.Skip("./cmd/tenantapi has no .go files yet: nothing to build (this test runs the build once the command exists)")
	}
	// The example set as sam build packages it: its migration files only,
	// readable by the function's user, whatever the source files' modes.
	example := map[string]string{}
	for _, name := range []string{"0001_items.sql", "0002_projects.sql"} {
		b, err := os.ReadFile(filepath.Join("../examples/projects", name))
		if err != nil {
			t.Fatal(err)
		}
		example[name] = fmt.Sprintf("%v %s", os.FileMode(0o644), b)
	}
	t.Run("built-in set", func(t *testing.T) {
		dir := t.TempDir()
		stale := filepath.Join(dir, packagedMigrations)
		if err := os.MkdirAll(stale, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := makeIn("lambda-migrations", "ARTIFACTS_DIR="+dir); err != nil {
			t.Fatalf("make lambda-migrations: %v\n%s", err, out)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Errorf("without TENANT_MIGRATIONS_DIR the package keeps %s/ (%v); want none", packagedMigrations, err)
		}
	})
	for _, target := range []string{"build-ApiFunction", "build-OpsFunction"} {
		t.Run(target, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := makeIn(target, "ARTIFACTS_DIR="+dir, "TENANT_MIGRATIONS_DIR=examples/projects"); err != nil {
				t.Fatalf("make %s: %v\n%s", target, err, out)
			}
			if got := packagedFiles(t, filepath.Join(dir, packagedMigrations)); !reflect.DeepEqual(got, example) {
				t.Errorf("%s/ of the package holds %v, want examples/projects' migrations %v", packagedMigrations, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(example)))
			}
			bootstrap := filepath.Join(dir, "bootstrap")
			fi, err := os.Stat(bootstrap)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("bootstrap is not executable: %v", fi.Mode())
			}
			f, err := elf.Open(bootstrap)
			if err != nil {
				t.Fatalf("bootstrap is not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("bootstrap is %v %v %v, want a 64-bit arm64 Linux ELF", f.Class, f.Machine, f.OSABI)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked; want CGO_ENABLED=0")
				}
			}
			info, err := buildinfo.ReadFile(bootstrap)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for key, want := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true"} {
				if settings[key] != want {
					t.Errorf("built with %s=%q, want %q", key, settings[key], want)
				}
			}
			if !slices.Contains(strings.Split(settings["-tags"], ","), "lambda.norpc") {
				t.Errorf("built with tags %q, want lambda.norpc", settings["-tags"])
			}
			if info.Path != "github.com/tenantapi/tenantapi/cmd/tenantapi" {
				t.Errorf("built %s, want ./cmd/tenantapi", info.Path)
			}
		})
	}
}
