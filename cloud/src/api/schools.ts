/** Schools, rooms and devices with their live state. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { inScope, maySeeKind } from '@schoolops/device-profiles';
import { visibleDeviceItems, visibleSummary } from './visibility.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
import { AlarmView, DeviceParams, DeviceView, District, ErrorBody, GatewayEventBody, RoomView, SchoolDetail, SchoolParams, SchoolSummary } from '@schoolops/device-profiles/api';
import type { DeviceEntry } from '../inventory.ts';

export const schoolRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, live, store }) => {
  const deviceView = (entry: DeviceEntry): DeviceView => ({
    id: entry.record.id,
    schoolId: entry.school.id,
    roomId: entry.record.roomId,
    profileId: entry.profile.id,
    kind: entry.profile.kind,
    vendor: entry.profile.vendor,
    model: entry.profile.model,
    name: entry.record.name ?? entry.profile.name,
    reporting: live.isReporting(entry.record.id),
    status: live.deviceStatus(entry.record.id),
    alarms: live.alarms(entry.record.id),
    latest: live.deviceLatest(entry.record.id),
    commands: entry.profile.commands,
    metrics: entry.profile.metrics.map(({ name, type, unit, description }) => ({ name, type, unit, description })),
  });

  app.get('/district', { schema: { tags: ['district'], summary: 'The district', response: { 200: District } } }, async () => {
    const { id, name, timezone } = district.inventory.district;
    return { id, name, timezone };
  });

  app.get(
    '/schools',
    { schema: { tags: ['schools'], summary: 'Every school with its gateway status and live figures', response: { 200: Type.Array(SchoolSummary) } } },
    // Every school for the district's roles; a school's own people see their school only.
    async (request) => {
      const principal = request.principal;
      if (!principal) return [];
      return live.summaries().flatMap((s) => (inScope(principal.scope, s.id) ? [visibleSummary(s, principal)] : []));
    },
  );

  app.get(
    '/schools/:schoolId',
    { schema: { tags: ['schools'], params: SchoolParams, response: { 200: SchoolDetail, 404: ErrorBody } } },
    async (request, reply) => {
      const school = district.schools.get(request.params.schoolId);
      if (!school) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      return {
        ...visibleSummary(live.summary(school.id)!, request.principal!),
        gatewayId: school.gatewayId,
        gateway: live.gateway(school.id),
        link: live.link(school.id),
        rooms: school.rooms.length,
        classes: school.classes.length,
      };
    },
  );

  app.get(
    '/schools/:schoolId/rooms',
    { schema: { tags: ['schools'], params: SchoolParams, response: { 200: Type.Array(RoomView), 404: ErrorBody } } },
    async (request, reply) => {
      const school = district.schools.get(request.params.schoolId);
      if (!school) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      return school.rooms.map((room) => ({ ...room, devices: school.devices.filter((d) => d.roomId === room.id).map((d) => d.id) }));
    },
  );

  app.get(
    '/schools/:schoolId/devices',
    {
      schema: {
        tags: ['devices'],
        summary: "A school's devices with their latest values",
        params: SchoolParams,
        response: { 200: Type.Array(DeviceView), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!district.schools.has(request.params.schoolId)) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      return district.devicesOf(request.params.schoolId).filter((d) => maySeeKind(request.principal!, d.profile.kind)).map(deviceView);
    },
  );

  app.get(
    '/schools/:schoolId/alarms',
    {
      schema: {
        tags: ['schools'],
        summary: "Alarms raised now by the school's devices' health rules, most severe first",
        params: SchoolParams,
        response: { 200: Type.Array(AlarmView), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!district.schools.has(request.params.schoolId)) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      return visibleDeviceItems(district, request.principal!, live.schoolAlarms(request.params.schoolId), (a) => a.deviceId);
    },
  );

  app.get(
    '/schools/:schoolId/events',
    {
      schema: {
        tags: ['schools'],
        summary: "The school gateway's events (telemetry gaps, device status changes), newest first",
        params: SchoolParams,
        response: { 200: Type.Array(GatewayEventBody), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!district.schools.has(request.params.schoolId)) return sendError(reply, 'unknown_school', { schoolId: request.params.schoolId });
      const events = await store.events({ schoolId: request.params.schoolId });
      return visibleDeviceItems(district, request.principal!, events, (e) => ('deviceId' in e ? e.deviceId : undefined));
    },
  );

  app.get(
    '/devices/:deviceId',
    { schema: { tags: ['devices'], params: DeviceParams, response: { 200: DeviceView, 404: ErrorBody } } },
    async (request, reply) => {
      const entry = district.devices.get(request.params.deviceId);
      if (!entry) return sendError(reply, 'unknown_device', { deviceId: request.params.deviceId });
      return deviceView(entry);
    },
  );
};
