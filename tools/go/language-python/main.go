// pulumi-language-python: this project's own stand-in for Pulumi's Python language host.
//
// The Go module of Pulumi's real host (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the module proxy this project builds from, so this small host implements the parts
// of the LanguageRuntime gRPC contract that `pulumi` 3.259 uses for an ordinary Python program:
// GetPluginInfo, Handshake, About, GetRequiredPackages, GetProgramDependencies, InstallDependencies,
// Run and Cancel. Virtual environments (the `toolchain` and `virtualenv` runtime options: pip, poetry,
// uv) are handled by upstream's own python/toolchain package of the pinned sdk/v3 module, and the
// program runs under upstream's `pulumi-language-python-exec` script from that same module, installed
// next to this binary by tools/build-tools.sh. Not supported: the `typechecker` option, debugging
// (attachDebugger), Python plugins/policy packs (RunPlugin), code generation and `pulumi new`
// prompts (Generate*, Pack, Link, Template, RuntimeOptionsPrompts): they answer Unimplemented or
// a clear error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	execScript = "pulumi-language-python-exec"
	// The exec script exits with this code after it has shown the user an error message itself.
	exitAfterUserMessage = 32
)

func main() {
	// The CLI starts plugins with [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS; the first two
	// are glog's flags, registered by the logging package.
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, passed on to the program")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)

	self, err := os.Executable()
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not determine the language host's path: %w", err))
	}
	script := filepath.Join(filepath.Dir(self), execScript)
	if _, err := os.Stat(script); err != nil {
		cmdutil.Exit(fmt.Errorf("missing %s next to the language host (run `make tools`): %w", execScript, err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancelServe := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(cancelServe)
	}()
	h := newHost(script, *tracing)
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[0]
		if err := rpcutil.Healthcheck(ctx, h.engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelServe,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host's RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port) // the CLI reads the port from the first line of stdout
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host stopped serving: %w", err))
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	script        string
	engineAddress string
	tracing       string
	cancelCtx     context.Context
	cancel        context.CancelFunc
}

func newHost(script, tracing string) *host {
	ctx, cancel := context.WithCancel(context.Background())
	return &host{script: script, tracing: tracing, cancelCtx: ctx, cancel: cancel}
}

// toolchainFor reads Pulumi.yaml's runtime options the way the real host does and resolves
// upstream's toolchain (pip with a virtualenv relative to the project root, poetry or uv).
func toolchainFor(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if info == nil {
		tc, err := toolchain.ResolveToolchain(opts)
		return tc, opts, err
	}
	opts = toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory}
	options := info.Options.AsMap()
	for key, value := range options {
		text, ok := value.(string)
		if !ok {
			return nil, opts, fmt.Errorf("the %s runtime option must be a string", key)
		}
		switch key {
		case "virtualenv":
			opts.Virtualenv = text
		case "toolchain":
			switch text {
			case "pip":
				opts.Toolchain = toolchain.Pip
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			case "uv":
				opts.Toolchain = toolchain.Uv
			default:
				return nil, opts, fmt.Errorf("unsupported toolchain option: %s", text)
			}
		case "typechecker":
			return nil, opts, errors.New("the typechecker runtime option is not supported by this project's " +
				"language host (tools/go/language-python); run mypy/pyright yourself")
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return tc, opts, err
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *host) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	hctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	if err := rpcutil.Healthcheck(hctx, h.engineAddress, 5*time.Minute, stop); err != nil {
		return nil, fmt.Errorf("could not start the engine health check: %w", err)
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, opts, err := toolchainFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	var info toolchain.Info
	if opts.Toolchain == toolchain.Pip {
		info, err = pipAbout(ctx, tc)
	} else {
		info, err = tc.About(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      "None",
		},
	}, nil
}

// pipAbout answers what upstream's pip toolchain About answers (interpreter path, Python and pip
// versions) from one Python process instead of three: the CLI asks on every preview and update, and
// `python -m pip --version` alone costs about half a second of CPU.
func pipAbout(ctx context.Context, tc toolchain.Toolchain) (toolchain.Info, error) {
	cmd, err := tc.Command(ctx, "-c", `import importlib.metadata as md, platform, sys
print(sys.executable)
print("Python " + platform.python_version())
try:
    print("pip " + md.version("pip"))
except md.PackageNotFoundError:
    print("")`)
	if err != nil {
		return toolchain.Info{}, err
	}
	out, err := cmd.Output()
	if err != nil {
		return toolchain.Info{}, fmt.Errorf("failed to get python executable path: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for len(lines) < 3 {
		lines = append(lines, "")
	}
	info := toolchain.Info{PythonExecutable: strings.TrimSpace(lines[0])}
	// Like upstream, unparsable versions are left empty rather than failing About.
	info.PythonVersion, _ = toolchain.ParsePythonVersion(lines[1])
	info.ToolchainVersion, _ = toolchain.ParsePipVersion(lines[2])
	return info, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, _, err := toolchainFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	packages, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, len(packages))
	for i, p := range packages {
		deps[i] = &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	if req.IsPlugin {
		return errors.New("Python plugins are not supported by this project's language host")
	}
	tc, _, err := toolchainFor(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	if err := tc.InstallDependencies(server.Context(), req.Info.ProgramDirectory, req.UseLanguageVersionTools,
		true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

// pluginsScript prints, for every installed distribution whose import package carries a
// pulumi-plugin.json (or whose name starts with "pulumi-"), its name, version and that file's content.
// The real host gets the same from `pip list` plus a second Python call; one call is faster.
const pluginsScript = `import importlib.metadata as md, importlib.util, json, os
out = []
for dist in md.distributions():
    name = dist.metadata["Name"] or ""
    if name in ("pulumi-policy", "pulumi-esc-sdk"):
        continue
    plugin = None
    try:
        spec = importlib.util.find_spec(name.replace("-", "_"))
    except Exception:
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(str(loc), "pulumi-plugin.json")
        if os.path.isfile(path):
            with open(path) as f:
                plugin = json.load(f)
            break
    if plugin is not None or name.startswith("pulumi-"):
        out.append({"name": name, "version": dist.version, "plugin": plugin})
print(json.dumps(out))`

type pluginJSON struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, _, err := toolchainFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	// Creates the virtualenv from requirements.txt when it is missing, as the real host does.
	if err := tc.EnsureVenv(ctx, req.Info.ProgramDirectory, false, true, os.Stdout, os.Stderr); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", pluginsScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("could not list the program's Pulumi packages: %w", err)
	}
	var found []struct {
		Name    string      `json:"name"`
		Version string      `json:"version"`
		Plugin  *pluginJSON `json:"plugin"`
	}
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("could not read the program's Pulumi packages: %w", err)
	}
	packages := []*pulumirpc.PackageDependency{}
	for _, f := range found {
		name, ver, server := strings.TrimPrefix(f.Name, "pulumi-"), f.Version, ""
		if f.Plugin != nil {
			if !f.Plugin.Resource {
				continue
			}
			if f.Plugin.Name != "" {
				name = f.Plugin.Name
			}
			if f.Plugin.Version != "" {
				ver = f.Plugin.Version
			}
			server = f.Plugin.Server
		}
		if !strings.HasPrefix(ver, "v") {
			ver = "v" + ver
		}
		packages = append(packages, &pulumirpc.PackageDependency{
			Name: name, Version: ver, Kind: "resource", Server: server,
		})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// Run starts `<venv python> pulumi-language-python-exec --monitor ... ENTRY` with the stack's
// config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS, as the real host does.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "debugging is not supported by this project's language host"}, nil
	}
	tc, _, err := toolchainFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration secret keys: %w", err)
	}

	args := []string{h.script}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	args = append(args, req.GetArgs()...)

	// Stop the program on the Cancel RPC or when the request ends.
	runCtx, stop := context.WithCancel(h.cancelCtx)
	defer stop()
	context.AfterFunc(ctx, stop)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))

	err = cmd.Run()
	// Python may not flush when it dies; make sure the CLI sees everything it wrote.
	_ = os.Stdout.Sync()
	_ = os.Stderr.Sync()
	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Exited() {
		if status.ExitStatus() == exitAfterUserMessage {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("program exited with non-zero exit code: %d", status.ExitStatus()),
		}, nil
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}, nil
}
