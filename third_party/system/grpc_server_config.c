/*
 * gRPC core's plugin list, cut down to what a server needs.
 *
 * grpc_init() builds gRPC's configuration by calling
 * grpc_core::BuildCoreConfiguration(), which in Debian's gRPC 1.51 registers
 * some thirty plugins: the server-side filters and handshakers, but also
 * every client-side piece (load-balancing policies: pick_first, round_robin,
 * priority, weighted_target, ring_hash, outlier_detection, grpclb, rls; the
 * client channel; the dns, sockaddr and fake resolvers; proxy mapping; the
 * TCP and HTTP CONNECT handshakers). kc-server never opens a channel, and
 * with gRPC linked from its static archive (//third_party/system:grpc_server)
 * defining the function here keeps those objects out of the program
 * altogether: 1.3 MB less code, and no page of it touched at start-up
 * (idle kc-server -0.6 MiB VmRSS).
 *
 * This is gRPC's own function, defined under its C++ name; the registration
 * functions it calls are gRPC's, in the order its grpc_plugin_registry.cc
 * calls them (the order sets the order of equal-priority filters). A gRPC
 * whose registration functions change fails to link here, loudly. Anything
 * that makes kc-server a gRPC *client* (grpc_channel_create and friends)
 * needs the client-side plugins back: link the full list instead.
 */

/* `void grpc_core::F(grpc_core::CoreConfiguration::Builder *)`, from C. */
#define GRPC_REGISTER(name, mangled) void name(void *builder) __asm__(mangled)

GRPC_REGISTER(register_event_engine_channel_arg_preconditioning,
	      "_ZN17grpc_event_engine12experimental44RegisterEventEngineChannelArgPreconditioning"
	      "EPN9grpc_core17CoreConfiguration7BuilderE");
GRPC_REGISTER(security_register_handshaker_factories,
	      "_ZN9grpc_core35SecurityRegisterHandshakerFactoriesEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_channel_idle_filters,
	      "_ZN9grpc_core26RegisterChannelIdleFiltersEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_http_filters, "_ZN9grpc_core19RegisterHttpFiltersEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_deadline_filter, "_ZN9grpc_core22RegisterDeadlineFilterEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_message_size_filter,
	      "_ZN9grpc_core25RegisterMessageSizeFilterEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_resource_quota, "_ZN9grpc_core21RegisterResourceQuotaEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_security_filters,
	      "_ZN9grpc_core23RegisterSecurityFiltersEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_extra_filters, "_ZN9grpc_core20RegisterExtraFiltersEPNS_17CoreConfiguration7BuilderE");
GRPC_REGISTER(register_builtins, "_ZN9grpc_core16RegisterBuiltinsEPNS_17CoreConfiguration7BuilderE");

/* grpc_core::BuildCoreConfiguration(grpc_core::CoreConfiguration::Builder *) */
GRPC_REGISTER(kc_grpc_build_core_configuration,
	      "_ZN9grpc_core22BuildCoreConfigurationEPNS_17CoreConfiguration7BuilderE");

void kc_grpc_build_core_configuration(void *builder)
{
	register_event_engine_channel_arg_preconditioning(builder);
	/* The server's security handshaker (insecure credentials still go
	 * through it) and its auth filter, below. */
	security_register_handshaker_factories(builder);
	/* max_connection_idle / max_connection_age on the server. */
	register_channel_idle_filters(builder);
	register_http_filters(builder);
	register_deadline_filter(builder);
	/* kc-server caps the request size (max_prompt_bytes). */
	register_message_size_filter(builder);
	register_resource_quota(builder);
	register_security_filters(builder);
	register_extra_filters(builder);
	/* The server's top filter and the connected channel. */
	register_builtins(builder);
}
